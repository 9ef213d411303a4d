package locker

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// openingUnlocker is a door whose sensor reports before Unlock returns, as a CU16 board
// that confirms an unlock by a status read does: the read that confirms the latch open
// also reports it, on the driver's own goroutine, while Unlock is still under way.
type openingUnlocker struct {
	f       *fixture
	changes []bool // what the sensor reports during Unlock, in order
	result  error  // what Unlock returns afterwards
}

func (u *openingUnlocker) Unlock(_ context.Context, id CompartmentID) error {
	for _, open := range u.changes {
		u.f.door(id, open)
	}
	return u.result
}

// TestUnlockedPrecedesDoorOpened: for one door operation, the unlock's outcome is
// recorded (and numbered) before the door change the pulse caused, whatever the driver
// returns, and the operation completes as it would have with the changes in order.
func TestUnlockedPrecedesDoorOpened(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes []bool
		result  error
		first   EventType // the unlock's outcome
		want    []EventType
	}{
		{"confirmed, door opens", []bool{true}, nil, EvUnlocked,
			[]EventType{EvUnlocked, EvDoorOpened, EvDoorClosed, EvDeposited}},
		{"not confirmed, door opens", []bool{true}, fmt.Errorf("%w: status read", ErrUnlockUnconfirmed), EvUnlocked,
			[]EventType{EvUnlocked, EvDoorOpened, EvDoorClosed, EvDeposited}},
		{"failed, door opens anyway", []bool{true}, errors.New("bus: write failed"), EvUnlockFailed,
			[]EventType{EvUnlockFailed, EvDoorOpened, EvDoorClosed, EvDeposited}},
		{"opened and shut during the pulse", []bool{true, false}, nil, EvUnlocked,
			[]EventType{EvUnlocked, EvDoorOpened, EvDoorClosed, EvDeposited}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, mixedSpecs())
			f.announce("p-1", "RB123456785GB", "48213377", SizeS)
			sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
			f.st.unlocker = &openingUnlocker{f: f, changes: tc.changes, result: tc.result}
			before := len(f.events)
			slot, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
			if slot.Compartment != 1 {
				t.Fatalf("scan: %+v, %v; want compartment 1 offered", slot, err)
			}
			if len(tc.changes)%2 == 1 {
				f.door(1, false)
			}
			var got []EventType
			var seqs []uint64
			for _, e := range f.events[before:] {
				if e.Compartment == 1 && e.Type != EvReserved {
					got = append(got, e.Type)
					seqs = append(seqs, e.Seq)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("events of compartment 1: %v, want %v", got, tc.want)
			}
			for i := 1; i < len(seqs); i++ {
				if seqs[i] <= seqs[i-1] {
					t.Fatalf("seqs %v of %v are not increasing", seqs, got)
				}
			}
			if p := f.parcel("p-1"); p.State != StateDeposited || p.Compartment != 1 {
				t.Fatalf("parcel %+v, want deposited in 1", p)
			}
			if f.countEvents(EvForced) != 0 {
				t.Fatalf("events %v: a door opened by its own pulse reported forced", f.eventTypes())
			}
		})
	}
}
