package door

import (
	"errors"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/policy"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// fakeTx is a transition in memory: compartments, parcels and the events emitted.
type fakeTx struct {
	now     time.Time
	pol     policy.Policy
	comps   map[model.CompartmentID]*model.Compartment
	parcels map[model.ParcelID]*model.Parcel
	events  []model.Event
}

func newTx() *fakeTx {
	return &fakeTx{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), pol: policy.Default(),
		comps: map[model.CompartmentID]*model.Compartment{}, parcels: map[model.ParcelID]*model.Parcel{}}
}

func (t *fakeTx) Now() time.Time                                         { return t.now }
func (t *fakeTx) Policy() *policy.Policy                                 { return &t.pol }
func (t *fakeTx) Comp(id model.CompartmentID) *model.Compartment         { return t.comps[id] }
func (t *fakeTx) Emit(e model.Event) error                               { t.events = append(t.events, e); return nil }
func (t *fakeTx) OpenWaybill([]byte) *privacy.Digest                     { return nil }
func (t *fakeTx) SealWaybill(e uint32, d privacy.Digest) ([]byte, error) { return d[:], nil }
func (t *fakeTx) Parcel(id model.ParcelID) (*model.Parcel, error) {
	p, ok := t.parcels[id]
	if !ok {
		return nil, store.ErrUnknownParcel
	}
	c := *p
	return &c, nil
}
func (t *fakeTx) PutParcel(old, p *model.Parcel) error {
	if p == nil {
		delete(t.parcels, old.ID)
		return nil
	}
	t.parcels[p.ID] = p
	return nil
}

func (t *fakeTx) last() model.Event { return t.events[len(t.events)-1] }

// doorWith returns door 1 holding parcel p-1 (in state st) under operation op.
func doorWith(t *fakeTx, op model.Op, st model.ParcelState, seen bool) *model.Compartment {
	c := &model.Compartment{ID: 1, Kind: model.KindDoor, Size: model.SizeM, Capacity: 1, Generation: 3,
		Parcels: []model.ParcelID{"p-1"}, Op: op, OpParcel: "p-1", OpDoorSeen: seen, OpSince: t.now}
	t.comps[1] = c
	t.parcels["p-1"] = &model.Parcel{ID: "p-1", State: st, Announced: true, Compartment: 1, Generation: 3, Size: model.SizeM}
	return c
}

// TestReconcileOutcomes: ADR 0004 and 0034's table. A door seen open and now shut
// completes; one never seen leaves a deposit or a take-out unverified with its parcel
// where it was, and undoes an operator's opening; an open door lets the operation run.
func TestReconcileOutcomes(t *testing.T) {
	for _, tc := range []struct {
		op          model.Op
		state       model.ParcelState
		open, seen  bool
		outcome     string
		parcelState model.ParcelState
		fault       string
	}{
		{model.OpPickup, model.StateDeposited, true, false, Continued, model.StateDeposited, ""},
		{model.OpPickup, model.StateDeposited, false, true, model.ReconcileCompleted, model.StatePickedUp, ""},
		{model.OpDeposit, model.StateAnnounced, false, true, model.ReconcileCompleted, model.StateDeposited, ""},
		{model.OpDeposit, model.StateAnnounced, false, false, model.ReconcileUnverified, model.StateAnnounced, model.FaultUnverified},
		{model.OpPickup, model.StateDeposited, false, false, model.ReconcileUnverified, model.StateDeposited, model.FaultUnverified},
		{model.OpRetrieve, model.StateExpired, false, false, model.ReconcileUnverified, model.StateExpired, model.FaultUnverified},
		{model.OpOperator, model.StateDeposited, false, false, model.ReconcileUndone, model.StateDeposited, ""},
		{model.OpNone, model.StateDeposited, false, false, None, model.StateDeposited, ""},
	} {
		tx := newTx()
		c := doorWith(tx, tc.op, tc.state, tc.seen)
		got, err := Reconcile(tx, c, tc.open)
		if err != nil {
			t.Fatal(err)
		}
		p := tx.parcels["p-1"]
		if got != tc.outcome || p.State != tc.parcelState || c.Fault != tc.fault {
			t.Errorf("%s open=%v seen=%v: outcome %q, parcel %s, fault %q; want %q, %s, %q",
				tc.op, tc.open, tc.seen, got, p.State, c.Fault, tc.outcome, tc.parcelState, tc.fault)
		}
		if tc.fault == model.FaultUnverified && (c.UnverifiedOp != tc.op || c.UnverifiedParcel != "p-1" || c.Op != model.OpNone) {
			t.Errorf("%s: unverified %s %s, op %s", tc.op, c.UnverifiedOp, c.UnverifiedParcel, c.Op)
		}
		if tc.outcome != None && tc.outcome != Continued && tx.last().Type != model.EvReconciled {
			t.Errorf("%s: last event %s, want reconciled", tc.op, tx.last().Type)
		}
	}
}

// TestJamMovesADepositToAnotherDoor: a jammed deposit moves, parcel and operation, to
// the door alt offers, and is released when there is none.
func TestJamMovesADepositToAnotherDoor(t *testing.T) {
	tx := newTx()
	c := doorWith(tx, model.OpDeposit, model.StateAnnounced, false)
	c.OpSession, c.OpActor = "s-1", "c-1"
	alt := &model.Compartment{ID: 2, Kind: model.KindDoor, Size: model.SizeL, Capacity: 1}
	tx.comps[2] = alt
	slot, err := Jam(tx, c, func(model.Size) *model.Compartment { return alt })
	if err != nil {
		t.Fatal(err)
	}
	p := tx.parcels["p-1"]
	if slot.Compartment != 2 || p.Compartment != 2 || alt.Op != model.OpDeposit || alt.OpSession != "s-1" ||
		len(alt.Parcels) != 1 || len(c.Parcels) != 0 || c.Fault != "jammed" || c.Op != model.OpNone {
		t.Fatalf("after the jam: slot %+v, parcel in %d, jammed %+v, alt %+v", slot, p.Compartment, c, alt)
	}

	tx = newTx()
	c = doorWith(tx, model.OpDeposit, model.StateAnnounced, false)
	slot, err = Jam(tx, c, func(model.Size) *model.Compartment { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if p := tx.parcels["p-1"]; slot.Compartment != 0 || p.Compartment != 0 || p.State != model.StateAnnounced || len(c.Parcels) != 0 {
		t.Fatalf("no other door: slot %+v, parcel %+v", slot, p)
	}
	if tx.last().Type != model.EvDepositAborted {
		t.Fatalf("last event %s, want deposit_aborted", tx.last().Type)
	}
}

// TestPickupClaims: a pickup code reserves a free door, not one busy or faulted (but a
// pickup of its own parcel a restart left unverified may retry), and says so again
// while its door is open.
func TestPickupClaims(t *testing.T) {
	tx := newTx()
	c := doorWith(tx, model.OpNone, model.StateDeposited, false)
	p := tx.parcels["p-1"]
	if claim, err := Pickup(tx, c, p); err != nil || claim != Reserved || c.Op != model.OpPickup {
		t.Fatalf("free door: %v, %v, op %s", claim, err, c.Op)
	}
	if claim, _ := Pickup(tx, c, p); claim != Opening {
		t.Fatalf("same code again: %v", claim)
	}
	c.ClearOp()
	c.Fault = "jammed"
	if claim, _ := Pickup(tx, c, p); claim != Refused {
		t.Fatalf("jammed door: %v", claim)
	}
	c.Fault, c.UnverifiedOp, c.UnverifiedParcel = model.FaultUnverified, model.OpPickup, p.ID
	if claim, _ := Pickup(tx, c, p); claim != Reserved {
		t.Fatalf("retried unverified pickup: %v", claim)
	}
}

// TestCancel: a deposit whose door never opened is released at once; one confirmed
// reopens the door; a door busy with another operation refuses.
func TestCancel(t *testing.T) {
	tx := newTx()
	c := doorWith(tx, model.OpDeposit, model.StateAnnounced, false)
	if pulse, err := Cancel(tx, c, "p-1", "c-1"); err != nil || pulse || len(c.Parcels) != 0 || c.Op != model.OpNone {
		t.Fatalf("never opened: pulse %v, err %v, %+v", pulse, err, c)
	}
	tx = newTx()
	c = doorWith(tx, model.OpNone, model.StateDeposited, false)
	if pulse, err := Cancel(tx, c, "p-1", "c-1"); err != nil || !pulse || c.Op != model.OpCancel {
		t.Fatalf("confirmed deposit: pulse %v, err %v, op %s", pulse, err, c.Op)
	}
	c = doorWith(tx, model.OpPickup, model.StateDeposited, false)
	if _, err := Cancel(tx, c, "p-1", "c-1"); err != ErrBusy {
		t.Fatalf("busy door: %v", err)
	}
}

// TestRetrieve: a shelf gives an expired parcel back at once, a free door is reserved
// for the courier, and a busy or faulted door is left alone.
func TestRetrieve(t *testing.T) {
	tx := newTx()
	shelf := &model.Compartment{ID: 9, Kind: model.KindShelf, Generation: 1, Parcels: []model.ParcelID{"p-9"}}
	tx.comps[9] = shelf
	tx.parcels["p-9"] = &model.Parcel{ID: "p-9", State: model.StateExpired, Compartment: 9}
	p, _ := tx.Parcel("p-9")
	if sl, claim, err := Retrieve(tx, shelf, p, "c-1"); err != nil || claim != Shelved || sl.Compartment != 9 {
		t.Fatalf("shelf: %v %v %v", sl, claim, err)
	}
	if got := tx.parcels["p-9"]; got.State != model.StateRetrieved || got.Compartment != 0 || len(shelf.Parcels) != 0 {
		t.Errorf("shelf parcel: %s in %d, shelf holds %v", got.State, got.Compartment, shelf.Parcels)
	}
	if e := tx.last(); e.Type != model.EvRetrieved || e.Actor != "c-1" || e.Generation != 2 {
		t.Errorf("shelf event %+v", e)
	}

	c := doorWith(tx, model.OpNone, model.StateRecalled, false)
	p, _ = tx.Parcel("p-1")
	if _, claim, err := Retrieve(tx, c, p, "c-1"); err != nil || claim != Reserved || c.Op != model.OpRetrieve || c.OpActor != "c-1" {
		t.Fatalf("door: claim %v, op %s by %s, err %v", claim, c.Op, c.OpActor, err)
	}
	if tx.parcels["p-1"].State != model.StateRecalled {
		t.Error("door parcel changed before its door closed")
	}
	if _, claim, _ := Retrieve(tx, c, p, "c-2"); claim != Refused || c.OpActor != "c-1" {
		t.Errorf("busy door: claim %v, actor %s", claim, c.OpActor)
	}
	c.ClearOp()
	c.Fault = model.FaultUnverified
	if _, claim, _ := Retrieve(tx, c, p, "c-2"); claim != Refused || c.Op != model.OpNone {
		t.Errorf("faulted door: claim %v, op %s", claim, c.Op)
	}
}

// TestPickupAll: one code's parcels: a free door is reserved and unlocked, a shelf
// waits for staff, a busy door is refused, and a parcel not deposited here (announced,
// expired) is not claimed; none claimed is false.
func TestPickupAll(t *testing.T) {
	tx := newTx()
	free := doorWith(tx, model.OpNone, model.StateDeposited, false)
	tx.comps[2] = &model.Compartment{ID: 2, Kind: model.KindShelf, Parcels: []model.ParcelID{"p-2"}}
	tx.comps[3] = &model.Compartment{ID: 3, Kind: model.KindDoor, Op: model.OpDeposit, Parcels: []model.ParcelID{"p-3"}}
	parcels := []*model.Parcel{
		{ID: "p-1", State: model.StateDeposited, Compartment: 1},
		{ID: "p-2", State: model.StateDeposited, Compartment: 2},
		{ID: "p-3", State: model.StateDeposited, Compartment: 3},
		{ID: "p-4", State: model.StateAnnounced},
		{ID: "p-5", State: model.StateExpired, Compartment: 1},
	}
	cl, ok, err := PickupAll(tx, parcels)
	if err != nil || !ok {
		t.Fatalf("ok %v, err %v", ok, err)
	}
	if len(cl.Slots) != 2 || len(cl.Pulses) != 1 || cl.Pulses[0].Compartment != 1 || len(cl.Failed) != 1 ||
		cl.Failed[0].Compartment != 3 || len(cl.Shelved) != 1 || cl.Shelved[0] != "p-2" {
		t.Errorf("claims %+v", cl)
	}
	if free.Op != model.OpPickup || free.OpParcel != "p-1" {
		t.Errorf("free door: op %s for %s", free.Op, free.OpParcel)
	}
	if _, ok, err := PickupAll(tx, parcels[3:4]); ok || err != nil {
		t.Errorf("announced only: ok %v, err %v; want nothing claimed", ok, err)
	}
}

// TestSetEnabled: enabling clears a fault but not an unverified operation's, which
// must be resolved first; disabling keeps the reason.
func TestSetEnabled(t *testing.T) {
	tx := newTx()
	c := doorWith(tx, model.OpNone, model.StateDeposited, false)
	if err := SetEnabled(tx, c, false, "broken hinge"); err != nil || !c.Disabled || c.DisabledReason != "broken hinge" ||
		tx.last().Type != model.EvCompartmentDisabled {
		t.Fatalf("disable: %v, %+v", err, c)
	}
	c.Fault = "jammed"
	if err := SetEnabled(tx, c, true, "fixed"); err != nil || c.Disabled || c.Fault != "" || tx.last().Type != model.EvCompartmentEnabled {
		t.Fatalf("enable: %v, %+v", err, c)
	}
	c.Fault, c.Disabled = model.FaultUnverified, true
	n := len(tx.events)
	if err := SetEnabled(tx, c, true, "x"); !errors.Is(err, model.ErrState) || !c.Disabled || len(tx.events) != n {
		t.Errorf("enable over an unverified operation: %v, disabled %v, %d events", err, c.Disabled, len(tx.events)-n)
	}
}

// TestHandOverScanned: only a deposited parcel of the entry that matches the scan is
// handed over; otherwise the wrong-parcel alarm is raised and nothing moves.
func TestHandOverScanned(t *testing.T) {
	tx := newTx()
	shelf := &model.Compartment{ID: 5, Kind: model.KindShelf, Parcels: []model.ParcelID{"a", "b"}}
	tx.comps[5] = shelf
	tx.parcels["a"] = &model.Parcel{ID: "a", State: model.StateDeposited, Compartment: 5}
	tx.parcels["b"] = &model.Parcel{ID: "b", State: model.StateDeposited, Compartment: 5}
	is := func(id model.ParcelID) func(*model.Parcel) bool {
		return func(p *model.Parcel) bool { return p.ID == id }
	}
	if _, ok, err := HandOverScanned(tx, []model.ParcelID{"a", "b"}, is("c"), 3); ok || err != nil ||
		tx.last().Type != model.EvWrongParcel || tx.last().Count != 3 {
		t.Fatalf("wrong parcel: ok %v, err %v, event %+v", ok, err, tx.last())
	}
	sl, ok, err := HandOverScanned(tx, []model.ParcelID{"a", "b"}, is("b"), 3)
	if !ok || err != nil || sl.Parcel != "b" || tx.parcels["b"].State != model.StatePickedUp || tx.parcels["a"].State != model.StateDeposited {
		t.Fatalf("right parcel: %+v %v %v", sl, ok, err)
	}
	if _, ok, _ := HandOverScanned(tx, []model.ParcelID{"b"}, is("b"), 3); ok {
		t.Error("a parcel handed over twice")
	}
}
