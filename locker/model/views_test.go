package model

import "testing"

// TestViewHidesSealedWaybills: an operator's view never carries the sealed waybill
// digests a compartment keeps for an unannounced deposit (stable, so linkable).
func TestViewHidesSealedWaybills(t *testing.T) {
	c := Compartment{ID: 1, OpWaybill: []byte{1, 2}, UnverifiedWaybill: []byte{3}, Parcels: []ParcelID{"p"}}
	v := ViewOf(c)
	if v.OpWaybill != nil || v.UnverifiedWaybill != nil || len(v.Parcels) != 1 {
		t.Fatalf("view %+v", v)
	}
	if c.OpWaybill == nil {
		t.Fatal("ViewOf changed the compartment")
	}
}

func TestUnpulsedMovesTheSlotToFailed(t *testing.T) {
	p := Pickup{Slots: []Slot{{Compartment: 1}, {Compartment: 2}, {Compartment: 3}}}
	p.Unpulsed(Slot{Compartment: 2})
	if len(p.Slots) != 2 || p.Slots[0].Compartment != 1 || p.Slots[1].Compartment != 3 ||
		len(p.Failed) != 1 || p.Failed[0].Compartment != 2 {
		t.Fatalf("%+v", p)
	}
}

type counter struct{}

func (counter) OutboxLen() int { return 4 }
func (counter) CountStates() (map[string]int, error) {
	return map[string]int{"deposited": 2, "expired": 1}, nil
}
func (counter) CountLegacy() (int, error) { return 3, nil }

func TestCountStored(t *testing.T) {
	st := Status{Parcels: map[ParcelState]int{}}
	if err := st.CountStored(counter{}); err != nil {
		t.Fatal(err)
	}
	if st.Outbox != 4 || st.LegacyParcels != 3 || st.Parcels[StateDeposited] != 2 || st.Parcels[StateExpired] != 1 {
		t.Errorf("%+v", st)
	}
}
