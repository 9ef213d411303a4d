package model

// Slot tells a person where to go: a compartment and, for a deposit, the parcel.
type Slot struct {
	Compartment CompartmentID `json:"compartment"`
	Label       string        `json:"label"`
	Kind        Kind          `json:"kind"`
	Generation  uint64        `json:"generation"`
	Parcel      ParcelID      `json:"parcel,omitempty"`
	Hint        string        `json:"hint,omitempty"`
}

// SlotOf is where c (holding p, nil for none) sends a person.
func SlotOf(c *Compartment, p *Parcel) Slot {
	sl := Slot{Compartment: c.ID, Label: c.Label, Kind: c.Kind, Generation: c.Generation}
	if p != nil {
		sl.Parcel, sl.Hint = p.ID, p.Hint
	}
	return sl
}

// BestFit returns, of comps in order, the smallest usable compartment that holds size
// (the first in order among equals) and that ok accepts, or nil. exclude skips one
// compartment (the one that just jammed).
func BestFit(comps map[CompartmentID]*Compartment, order []CompartmentID, size Size, exclude CompartmentID, ok func(*Compartment) bool) *Compartment {
	var best *Compartment
	for _, id := range order {
		c := comps[id]
		if id == exclude || !c.Usable() || c.Size < size || !ok(c) {
			continue
		}
		if best == nil || c.Size < best.Size {
			best = c
		}
	}
	return best
}
