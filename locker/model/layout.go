package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// CompartmentSpec is how configuration describes one compartment.
type CompartmentSpec struct {
	ID       CompartmentID
	Label    string
	Size     Size
	Kind     Kind
	Capacity int // shelves only; doors always hold one parcel
}

// ValidateSpecs reports the first configured compartment that cannot be laid out.
func ValidateSpecs(specs []CompartmentSpec) error {
	if len(specs) == 0 {
		return errors.New("locker: no compartments configured")
	}
	seen := map[CompartmentID]bool{}
	for i, c := range specs {
		switch {
		case c.ID == 0:
			return fmt.Errorf("locker: compartment %d: id must be 1..65535", i)
		case seen[c.ID]:
			return fmt.Errorf("locker: compartment %d: duplicate id", c.ID)
		case c.Size < SizeS || c.Size > SizeXL:
			return fmt.Errorf("locker: compartment %d: size must be S, M, L or XL", c.ID)
		case c.Kind != KindDoor && c.Kind != KindShelf:
			return fmt.Errorf("locker: compartment %d: kind must be door or shelf", c.ID)
		case c.Kind == KindShelf && c.Capacity < 1:
			return fmt.Errorf("locker: compartment %d: a shelf needs a capacity of at least 1", c.ID)
		}
		seen[c.ID] = true
	}
	return nil
}

// removedReason is the DisabledReason of a compartment kept after it left the config.
const removedReason = "removed from config"

// Merge lays the configured compartments over the stored ones (which it changes): the
// config says what exists and how big it is; the store says what is in it. It returns
// the station's compartments; kept lists those that left the config but still hold
// parcels or an operation, kept disabled so that nothing is lost; gone those that left
// it empty, to delete.
func Merge(stored map[CompartmentID]*Compartment, specs []CompartmentSpec) (comps map[CompartmentID]*Compartment, kept, gone []CompartmentID) {
	comps = map[CompartmentID]*Compartment{}
	for _, sp := range specs {
		c, ok := stored[sp.ID]
		if !ok {
			c = &Compartment{ID: sp.ID}
		}
		delete(stored, sp.ID)
		c.Label, c.Size, c.Kind, c.Capacity = sp.Label, sp.Size, sp.Kind, sp.Capacity
		if c.Kind == KindDoor {
			c.Capacity = 1
		}
		if c.Label == "" {
			c.Label = fmt.Sprint(sp.ID)
		}
		if c.DisabledReason == removedReason {
			c.Disabled, c.DisabledReason = false, ""
		}
		comps[c.ID] = c
	}
	for _, c := range stored {
		if len(c.Parcels) == 0 && c.Op == OpNone {
			gone = append(gone, c.ID)
			continue
		}
		c.Disabled, c.DisabledReason = true, removedReason
		comps[c.ID] = c
		kept = append(kept, c.ID)
	}
	return comps, kept, gone
}

// LayoutTx is what MergeStored needs of a store transaction (store.Tx): the stored
// compartments, as JSON.
type LayoutTx interface {
	Compartments(fn func(v []byte) error) error
	PutCompartment(id uint16, c any) error
	DeleteCompartment(id uint16) error
}

// MergeStored lays specs over the compartments stored in t (Merge), deletes those
// gone, writes the others back, and returns them, their ids in order, and the ids
// kept disabled though no longer configured (they hold parcels). open turns a record as
// stored into the compartment, atRest the compartment into the record to store (the
// actor of an operation under way is sealed at rest, docs/adr/0065-audit-actors-as-pseudonyms.md).
func MergeStored(t LayoutTx, specs []CompartmentSpec, open func(*Compartment), atRest func(*Compartment) (*Compartment, error)) (comps map[CompartmentID]*Compartment, order, kept []CompartmentID, err error) {
	stored := map[CompartmentID]*Compartment{}
	if err := t.Compartments(func(v []byte) error {
		c := new(Compartment)
		if err := json.Unmarshal(v, c); err != nil {
			return err
		}
		open(c)
		stored[c.ID] = c
		return nil
	}); err != nil {
		return nil, nil, nil, err
	}
	comps, kept, gone := Merge(stored, specs)
	for _, id := range gone {
		if err := t.DeleteCompartment(uint16(id)); err != nil {
			return nil, nil, kept, err
		}
	}
	for id, c := range comps {
		order = append(order, id)
		r, err := atRest(c)
		if err != nil {
			return nil, nil, kept, err
		}
		if err := t.PutCompartment(uint16(id), r); err != nil {
			return nil, nil, kept, err
		}
	}
	slices.Sort(order)
	return comps, order, kept, nil
}
