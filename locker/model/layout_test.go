package model

import (
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
