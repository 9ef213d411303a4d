package model

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestMergeKeepsWhatHoldsParcels: the config decides what exists and its size; the
// store what is inside. A compartment that left the config keeps its parcels, disabled,
// and one that left it empty goes; one that comes back is in service again.
func TestMergeKeepsWhatHoldsParcels(t *testing.T) {
	stored := map[CompartmentID]*Compartment{
		1: {ID: 1, Size: SizeS, Kind: KindDoor, Capacity: 1, Parcels: []ParcelID{"p-1"}, Generation: 7},
		2: {ID: 2, Size: SizeM, Kind: KindDoor, Capacity: 1, Parcels: []ParcelID{"p-2"}},
		3: {ID: 3, Size: SizeM, Kind: KindDoor, Capacity: 1},
		4: {ID: 4, Size: SizeL, Kind: KindDoor, Capacity: 1, Disabled: true, DisabledReason: removedReason},
	}
	specs := []CompartmentSpec{
		{ID: 1, Size: SizeL, Kind: KindDoor, Capacity: 5},
		{ID: 4, Label: "D", Size: SizeL, Kind: KindDoor},
		{ID: 5, Size: SizeS, Kind: KindShelf, Capacity: 3},
	}
	comps, kept, gone := Merge(stored, specs)
	if !slices.Equal(kept, []CompartmentID{2}) || !slices.Equal(gone, []CompartmentID{3}) {
		t.Fatalf("kept %v gone %v, want [2] [3]", kept, gone)
	}
	if c := comps[1]; c.Size != SizeL || c.Capacity != 1 || c.Generation != 7 || len(c.Parcels) != 1 || c.Label != "1" {
		t.Fatalf("compartment 1: %+v", c)
	}
	if c := comps[2]; !c.Disabled || c.DisabledReason != removedReason {
		t.Fatalf("compartment 2 left the config holding a parcel: %+v", c)
	}
	if c := comps[4]; c.Disabled || c.Label != "D" {
		t.Fatalf("compartment 4 came back: %+v", c)
	}
	if c := comps[5]; c.Capacity != 3 || c.Kind != KindShelf {
		t.Fatalf("new shelf 5: %+v", c)
	}
	if _, ok := comps[3]; ok || len(comps) != 4 {
		t.Fatalf("compartments %v", comps)
	}
}

func TestBestFitTakesTheSmallestUsable(t *testing.T) {
	comps := map[CompartmentID]*Compartment{
		1: {ID: 1, Size: SizeL, Kind: KindDoor, Capacity: 1},
		2: {ID: 2, Size: SizeM, Kind: KindDoor, Capacity: 1, Fault: "jammed"},
		3: {ID: 3, Size: SizeM, Kind: KindShelf, Capacity: 2},
		4: {ID: 4, Size: SizeM, Kind: KindDoor, Capacity: 1},
	}
	order := []CompartmentID{1, 2, 3, 4}
	all := func(*Compartment) bool { return true }
	if c := BestFit(comps, order, SizeS, 0, all); c == nil || c.ID != 3 {
		t.Fatalf("best fit %v, want 3", c)
	}
	if c := BestFit(comps, order, SizeS, 3, all); c == nil || c.ID != 4 {
		t.Fatalf("best fit excluding 3: %v, want 4", c)
	}
	if c := BestFit(comps, order, SizeXL, 0, all); c != nil {
		t.Fatalf("an XL parcel fits %v", c.ID)
	}
}

// memLayout is a store's compartments in memory, as JSON.
type memLayout map[uint16][]byte

func (m memLayout) Compartments(fn func([]byte) error) error {
	for _, v := range m {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}
func (m memLayout) PutCompartment(id uint16, c any) error {
	b, err := json.Marshal(c)
	m[id] = b
	return err
}
func (m memLayout) DeleteCompartment(id uint16) error { delete(m, id); return nil }

// TestMergeStored: what the store holds is read, merged, written back in full, an
// empty compartment no longer configured is deleted, and the order is by id.
func TestMergeStored(t *testing.T) {
	m := memLayout{}
	for _, c := range []*Compartment{{ID: 1, Size: SizeS, Kind: KindDoor, Generation: 7}, {ID: 9, Size: SizeS, Kind: KindDoor},
		{ID: 8, Size: SizeS, Kind: KindDoor, Parcels: []ParcelID{"p"}}} {
		if err := m.PutCompartment(uint16(c.ID), c); err != nil {
			t.Fatal(err)
		}
	}
	specs := []CompartmentSpec{{ID: 3, Size: SizeM, Kind: KindDoor}, {ID: 1, Size: SizeL, Kind: KindDoor}}
	comps, order, kept, err := MergeStored(m, specs, func(*Compartment) {}, func(c *Compartment) (*Compartment, error) { return c, nil })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []CompartmentID{1, 3, 8}) || !slices.Equal(kept, []CompartmentID{8}) {
		t.Errorf("order %v, kept %v", order, kept)
	}
	if comps[1].Generation != 7 || comps[1].Size != SizeL {
		t.Errorf("compartment 1: %+v; want its stored generation under the configured size", comps[1])
	}
	if _, ok := m[9]; ok || len(m) != 3 {
		t.Errorf("stored after merge: %d compartments, 9 still there %v", len(m), ok)
	}
}
