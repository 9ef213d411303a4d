package locker

import (
	"testing"
	"time"
)

// Edges of the deposit and pickup flows that mutation testing (docs/testing.md) found
// no test looking at: each limit is checked at its value and one step past it.

// TestSessionIdleEdge: a courier session idle exactly SessionIdle is still open; one
// nanosecond more and it is gone.
func TestSessionIdleEdge(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	f.announce("p-2", "RA000000005DE", "11223344", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	idle := f.st.Policy().SessionIdle
	f.clock.Advance(idle)
	if _, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown); err != nil {
		t.Fatalf("scan after exactly %v idle: %v", idle, err)
	}
	f.clock.Advance(idle + time.Nanosecond)
	_, err := f.st.Scan(ctx, sid, "RA000000005DE", SizeUnknown)
	wantErr(t, err, ErrNotLoggedIn)
}

// TestDuplicateScanWindowEdge: the same scan exactly DuplicateScanWindow later is no
// longer a duplicate (it is seen, and refused because its deposit is under way); a
// nanosecond earlier it still is.
func TestDuplicateScanWindowEdge(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	if _, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown); err != nil {
		t.Fatal(err)
	}
	window := f.st.Policy().DuplicateScanWindow
	f.clock.Advance(window - time.Nanosecond)
	_, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	wantErr(t, err, ErrDuplicateScan)
	f.clock.Advance(time.Nanosecond)
	_, err = f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	wantErr(t, err, ErrBusy)
}

// TestReserveAdvancesGeneration: each reservation moves its compartment to the next
// generation, which door events and operations are matched by.
func TestReserveAdvancesGeneration(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	before := map[CompartmentID]uint64{}
	for _, spec := range mixedSpecs() {
		before[spec.ID] = f.comp(spec.ID).Generation
	}
	slot, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	if err != nil {
		t.Fatal(err)
	}
	if want := before[slot.Compartment] + 1; slot.Generation != want || f.comp(slot.Compartment).Generation != want {
		t.Fatalf("reserved generation %d, compartment at %d; want %d", slot.Generation, f.comp(slot.Compartment).Generation, want)
	}
}

// TestCancelDropsTheOffer: a cancelled deposit leaves the session's offers, so the
// courier's list shows only what is still going in.
func TestCancelDropsTheOffer(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	f.announce("p-2", "RA000000005DE", "11223344", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	first, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Scan(ctx, sid, "RA000000005DE", SizeUnknown); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Cancel(ctx, sid); err != nil {
		t.Fatal(err)
	}
	offers, err := f.st.Offers(sid)
	if err != nil || len(offers) != 1 || offers[0] != first {
		t.Fatalf("offers after cancelling the second deposit: %+v, %v; want only %+v", offers, err, first)
	}
}
