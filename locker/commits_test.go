package locker

import (
	"testing"
	"time"
)

// TestOneCommitPerAction pins the durable writes of each user action and command run
// (docs/adr/0027-one-write-per-command.md): the transition before the physical effect
// is one commit, and the pulse's fact (unlocked) is one more, after the unlock. A
// transition opened by Atomically is one commit however much it does: the cloud link's
// adapter pins its command runs on it (firmware/cloudlink, TestOneCommitPerCommandRun).
func TestOneCommitPerAction(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	count := func(name string, want int, action func()) {
		t.Helper()
		before := f.commits()
		action()
		if got := f.commits() - before; got != want {
			t.Errorf("%s: %d commits, want %d", name, got, want)
		}
	}
	ann := func(id ParcelID, tracking, code string) Announcement {
		return Announcement{ID: id, Waybill: f.cloud.Waybill(tracking), Verifiers: Verifiers{Code: f.cloud.CodeVerifier2(code, testPhone)},
			Size: SizeS, Hint: "…" + tracking[len(tracking)-4:]}
	}
	count("a transition announcing three batches", 1, func() {
		err := f.st.Atomically(func(tx *Tx) error {
			for _, a := range []Announcement{ann("p-1", "RB123456785GB", "48213377"),
				ann("p-2", "RR000000011GB", "11223344"), ann("p-3", "RR000000025GB", "55667788")} {
				res, err := tx.Announce([]Announcement{a})
				if err != nil {
					return err
				}
				if res[0] != nil {
					return res[0]
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("announce: %v", err)
		}
	})
	count("an announcement", 1, func() {
		if res, err := f.st.Announce(ctx, []Announcement{ann("p-4", "RR000000039GB", "12121212")}); err != nil || res[0] != nil {
			t.Fatalf("announce: %v %v", err, res)
		}
	})
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true, Retrieve: true})
	var slot Slot
	count("a scan: reservation, then the pulse's fact", 2, func() {
		var err error
		if slot, err = f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown); err != nil {
			t.Fatal(err)
		}
	})
	count("a door opened and closed", 2, func() { f.openClose(slot.Compartment) })
	count("a code entered: reservation, then the pulse's fact", 2, func() {
		if _, err := f.st.EnterCode(ctx, "48213377", testPhone); err != nil {
			t.Fatal(err)
		}
	})
	count("a wrong code", 1, func() {
		if _, err := f.st.EnterCode(ctx, "99999999", testPhone); err == nil {
			t.Fatal("a wrong code was taken")
		}
	})
	count("an idle tick", 0, func() { f.tick(time.Second) })
}
