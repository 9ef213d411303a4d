package locker

import (
	"errors"
	"slices"
	"testing"
)

// TestRestartFlagsUnverifiedTakeOut: an operation that takes a parcel out (pickup,
// retrieval, cancel) whose door was never seen open before a restart may have
// happened while lockerd was down, or not. The compartment is flagged unverified with
// the operation and parcel, and a reconciled event says so; the operator's finding
// settles it: present keeps the parcel where it was, absent completes the operation
// as the door's closing would have. An operator's own opening moves no parcel and is
// simply undone (ADR 0004, ADR 0034).
func TestRestartFlagsUnverifiedTakeOut(t *testing.T) {
	cases := []struct {
		name       string
		op         Op
		start      func(f *fixture, comp CompartmentID, sid string) // reserves the operation and pulses the door
		before     ParcelState                                      // the parcel's state while the operation is under way
		absent     ParcelState                                      // its state once resolved absent
		unverified bool                                             // false: undone, no flag
	}{
		{"pickup", OpPickup, func(f *fixture, _ CompartmentID, _ string) {
			if res, err := f.st.EnterCode(ctx, "48213377", testPhone); err != nil || len(res.Slots) != 1 {
				f.t.Fatalf("code: %+v %v", res, err)
			}
		}, StateDeposited, StatePickedUp, true},
		{"retrieval", OpRetrieve, func(f *fixture, _ CompartmentID, _ string) {
			if err := f.st.Recall(ctx, "p-1", "test"); err != nil {
				f.t.Fatal(err)
			}
			sid := f.courier("c-2", "BADGE-2-ABCDEFGHIJKLMNOPQR", "1357", Rights{Retrieve: true})
			if slots, err := f.st.Retrieve(ctx, sid); err != nil || len(slots) != 1 {
				f.t.Fatalf("retrieve: %+v %v", slots, err)
			}
		}, StateRecalled, StateRetrieved, true},
		{"cancel of a confirmed deposit", OpCancel, func(f *fixture, _ CompartmentID, sid string) {
			if err := f.st.Cancel(ctx, sid); err != nil {
				f.t.Fatal(err)
			}
		}, StateDeposited, StateAnnounced, true},
		{"operator's opening", OpOperator, func(f *fixture, comp CompartmentID, _ string) {
			if err := f.st.OpenCompartment(ctx, comp, "op-1", "look"); err != nil {
				f.t.Fatal(err)
			}
		}, StateDeposited, StateDeposited, false},
	}
	for _, tc := range cases {
		for _, present := range []bool{true, false} {
			if !tc.unverified && !present {
				continue // nothing to resolve: one run is enough
			}
			name := tc.name + "/absent"
			if present {
				name = tc.name + "/present"
			}
			t.Run(name, func(t *testing.T) {
				f := newFixture(t, mixedSpecs())
				f.announce("p-1", "RB123456785GB", "48213377", SizeS)
				sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
				comp := f.deposit(sid, "RB123456785GB")
				tc.start(f, comp, sid)
				if c := f.comp(comp); c.Op != tc.op || !slices.Contains(f.hw.unlocked(), comp) {
					t.Fatalf("before the restart: op %q, unlocked %v", c.Op, f.hw.unlocked())
				}
				// Power cut: the door opened and shut (or never opened) while lockerd
				// was down; it reads closed at the restart, never seen open.
				f.restart()
				c, p := f.comp(comp), f.parcel("p-1")
				if c.Op != OpNone || p.State != tc.before || p.Compartment != comp {
					t.Fatalf("after the restart: op %q, parcel %s in %d; want %s kept in %d", c.Op, p.State, p.Compartment, tc.before, comp)
				}
				e := f.lastEvent(EvReconciled)
				if e.Op != tc.op || e.Compartment != comp {
					t.Fatalf("reconciled event %+v", e)
				}
				if !tc.unverified {
					if c.Fault != "" || e.Outcome != ReconcileUndone {
						t.Fatalf("an operator's opening: fault %q, outcome %q; want undone with no flag", c.Fault, e.Outcome)
					}
					return
				}
				if c.Fault != FaultUnverified || c.UnverifiedOp != tc.op || c.UnverifiedParcel != "p-1" {
					t.Fatalf("flag: fault %q op %q parcel %q; want unverified %s of p-1", c.Fault, c.UnverifiedOp, c.UnverifiedParcel, tc.op)
				}
				if e.Outcome != ReconcileUnverified || e.Parcel != "p-1" {
					t.Fatalf("reconciled event: outcome %q parcel %q; want unverified p-1", e.Outcome, e.Parcel)
				}
				if err := f.st.SetEnabled(ctx, comp, true, "skip the look"); !errors.Is(err, ErrState) {
					t.Fatalf("enabling clears the flag without a look: %v", err)
				}
				if err := f.st.Resolve(ctx, comp, present, "op-1", "looked"); err != nil {
					t.Fatal(err)
				}
				c, p = f.comp(comp), f.parcel("p-1")
				want, inside := tc.before, true
				if !present {
					want, inside = tc.absent, false
				}
				if c.Fault != "" || c.UnverifiedOp != OpNone || c.UnverifiedParcel != "" {
					t.Fatalf("resolved, still flagged: %+v", c)
				}
				if p.State != want || slices.Contains(c.Parcels, "p-1") != inside || (p.Compartment == comp) != inside {
					t.Fatalf("resolved %v: parcel %s in %d (compartment holds %v); want %s, inside %v", present, p.State, p.Compartment, c.Parcels, want, inside)
				}
				if r := f.lastEvent(EvResolved); r.Op != tc.op || r.Parcel != "p-1" || r.Actor != "op-1" {
					t.Fatalf("resolved event %+v", r)
				}
				if !present && !c.Usable() {
					t.Fatalf("an emptied compartment stays out of service: %+v", c)
				}
				if n, err := f.st.VerifyAudit(); err != nil || n == 0 {
					t.Fatalf("audit %d %v", n, err)
				}
			})
		}
	}
}

// TestUnverifiedPickupRetried: the recipient whose pickup a restart cut before the
// door opened types the code again: it opens the flagged door, and the door's
// closing completes the pickup and clears the flag with no operator.
func TestUnverifiedPickupRetried(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	comp := f.deposit(sid, "RB123456785GB")
	if _, err := f.st.EnterCode(ctx, "48213377", testPhone); err != nil {
		t.Fatal(err)
	}
	f.restart()
	if c := f.comp(comp); c.Fault != FaultUnverified || c.UnverifiedOp != OpPickup {
		t.Fatalf("not flagged: %+v", c)
	}
	res, err := f.st.EnterCode(ctx, "48213377", testPhone)
	if err != nil || len(res.Slots) != 1 || res.Slots[0].Compartment != comp || len(res.Failed) != 0 {
		t.Fatalf("retried code: %+v %v; want compartment %d opened", res, err, comp)
	}
	f.openClose(comp)
	c, p := f.comp(comp), f.parcel("p-1")
	if p.State != StatePickedUp || c.Fault != "" || c.UnverifiedOp != OpNone || !c.Usable() {
		t.Fatalf("after the retried pickup: parcel %s, compartment %+v", p.State, c)
	}
	if err := f.st.Resolve(ctx, comp, false, "op-1", "late"); !errors.Is(err, ErrState) {
		t.Fatalf("resolving a settled compartment: %v", err)
	}
}
