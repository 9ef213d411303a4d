package locker

import (
	"context"
	"testing"
	"time"
)

// TestOneCommitPerAction pins the durable writes of each user action and command run
// (docs/adr/0027-one-write-per-command.md): the transition before the physical effect
// is one commit, and the pulse's fact (unlocked) is one more, after the unlock.
func TestOneCommitPerAction(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	exp := f.clock.Now().Add(time.Hour)
	count := func(name string, want int, action func()) {
		t.Helper()
		before := f.commits()
		action()
		if got := f.commits() - before; got != want {
			t.Errorf("%s: %d commits, want %d", name, got, want)
		}
	}
	ann := func(id ParcelID, tracking, code string) Announcement {
		return Announcement{ID: id, Waybill: f.cloud.Waybill(tracking), Verifier: f.cloud.CodeVerifier(code),
			Size: SizeS, Hint: "…" + tracking[len(tracking)-4:]}
	}
	reply := func([]error) ([]byte, error) { return []byte("ok"), nil }
	count("a run of three announce commands", 1, func() {
		out, err := f.st.CommandAnnounce(context.Background(), []AnnounceCommand{
			{ID: "a1", Exp: exp, Batch: []Announcement{ann("p-1", "RB123456785GB", "48213377")}, Reply: reply},
			{ID: "a2", Exp: exp, Batch: []Announcement{ann("p-2", "RR000000011GB", "11223344")}, Reply: reply},
			{ID: "a3", Exp: exp, Batch: []Announcement{ann("p-3", "RR000000025GB", "55667788")}, Reply: reply},
		})
		if err != nil || out[0].Err != nil || out[2].Err != nil {
			t.Fatalf("announce: %v %+v", err, out)
		}
	})
	count("a read-only command recorded", 1, func() {
		if _, err := f.st.CommandRecord("q1", exp, []byte(`{"ok":true}`)); err != nil {
			t.Fatal(err)
		}
	})
	count("a command begun and finished", 2, func() {
		if _, err := f.st.CommandBegin("b1", exp); err != nil {
			t.Fatal(err)
		}
		if err := f.st.CommandFinish("b1", []byte("done")); err != nil {
			t.Fatal(err)
		}
	})
	sid := f.courier("c-1", "BADGE-1", "2468", Rights{Deposit: true, Retrieve: true})
	var slot Slot
	count("a scan: reservation, then the pulse's fact", 2, func() {
		var err error
		if slot, err = f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown); err != nil {
			t.Fatal(err)
		}
	})
	count("a door opened and closed", 2, func() { f.openClose(slot.Compartment) })
	count("a code entered: reservation, then the pulse's fact", 2, func() {
		if _, err := f.st.EnterCode(ctx, "48213377"); err != nil {
			t.Fatal(err)
		}
	})
	count("a wrong code", 1, func() {
		if _, err := f.st.EnterCode(ctx, "99999999"); err == nil {
			t.Fatal("a wrong code was taken")
		}
	})
	count("an idle tick", 0, func() { f.tick(time.Second) })
}
