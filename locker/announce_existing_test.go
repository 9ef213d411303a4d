package locker

import (
	"testing"
	"time"
)

// TestAnnounceOfAnExistingParcel pins what docs/protocol.md §3.4 promises for an
// announce that names a parcel id the locker already holds, state by state: a waiting
// parcel is updated (size, deadline, verifiers given); a parcel in a compartment or
// finished is left exactly as it was, and the item is still answered as applied (a
// late duplicate, not a refusal); once a finished record is purged, the id is new again.
func TestAnnounceOfAnExistingParcel(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	reannounce := func(id ParcelID, tracking, code string, size Size, until time.Time) {
		t.Helper()
		a := Announcement{ID: id, Waybill: f.cloud.Waybill(tracking), Size: size, Until: until}
		if code != "" {
			a.Code = f.cloud.CodeVerifier2(code, testPhone)
		}
		res, err := f.st.Announce(ctx, []Announcement{a})
		if err != nil || res[0] != nil {
			t.Fatalf("re-announce %s: %v %v", id, err, res)
		}
	}

	// Announced, not yet deposited: updated in place.
	f.announce("p-1", "100000000001", "55501234", SizeS)
	until := testStart.Add(48 * time.Hour)
	reannounce("p-1", "100000000001", "", SizeM, until)
	if p := f.parcel("p-1"); p.State != StateAnnounced || p.Size != SizeM || !p.KeepUntil.Equal(until) {
		t.Fatalf("announced parcel after a re-announce: state %s size %s keep %v; want announced, M, %v", p.State, p.Size, p.KeepUntil, until)
	}

	// Deposited: left alone. The new size and code are ignored; the old code opens.
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	f.deposit(sid, "100000000001")
	before := f.parcel("p-1")
	reannounce("p-1", "100000000001", "77778888", SizeXL, time.Time{})
	if after := f.parcel("p-1"); after != before {
		t.Fatalf("deposited parcel changed by a re-announce:\n%+v\n%+v", before, after)
	}
	if res, err := f.st.EnterCode(ctx, "77778888", testPhone); err == nil && len(res.Slots) > 0 {
		t.Fatal("the re-announced code opened a deposited parcel")
	}
	f.clock.Advance(time.Minute) // past the code gate's delay after that failure
	res, err := f.st.EnterCode(ctx, "55501234", testPhone)
	if err != nil || len(res.Slots) != 1 {
		t.Fatalf("the original code after a re-announce: %+v, %v", res, err)
	}
	f.openClose(res.Slots[0].Compartment)

	// Picked up (terminal): left alone.
	if p := f.parcel("p-1"); p.State != StatePickedUp {
		t.Fatalf("p-1 is %s, want picked_up", p.State)
	}
	reannounce("p-1", "100000000001", "", SizeS, time.Time{})
	if p := f.parcel("p-1"); p.State != StatePickedUp {
		t.Fatalf("picked-up parcel is %s after a re-announce", p.State)
	}

	// Cancelled (terminal): left alone.
	f.announce("p-2", "100000000002", "", SizeS)
	if err := f.st.CancelParcel(ctx, "p-2", "test"); err != nil {
		t.Fatal(err)
	}
	reannounce("p-2", "100000000002", "", SizeL, time.Time{})
	if p := f.parcel("p-2"); p.State != StateCancelled || p.Size != SizeS {
		t.Fatalf("cancelled parcel after a re-announce: %s %s", p.State, p.Size)
	}

	// Purged: the id names nothing any more, so the announce creates a new parcel.
	f.tick(f.opt.Policy.PurgeAfter + time.Hour)
	if _, err := f.st.ParcelInfo("p-2"); err == nil {
		t.Fatal("p-2 not purged")
	}
	reannounce("p-2", "100000000002", "", SizeL, time.Time{})
	if p := f.parcel("p-2"); p.State != StateAnnounced || p.Size != SizeL {
		t.Fatalf("purged id re-announced: %s %s, want announced L", p.State, p.Size)
	}
}
