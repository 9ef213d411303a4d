package locker

import (
	"encoding/binary"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestAtomicAnnounceRun: announcements batched in one Atomically transition are
// applied together with one announced event counting every parcel applied; a
// conflicting announcement is refused in its own results without failing the others,
// and an error from fn leaves nothing of the transition.
func TestAtomicAnnounceRun(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	ann := func(id ParcelID, tracking string) Announcement {
		return Announcement{ID: id, Waybill: f.cloud.Waybill(tracking), Size: SizeM, Hint: "…" + tracking[len(tracking)-4:]}
	}
	before := f.countEvents(EvAnnounced)
	var got [][]error
	err := f.st.Atomically(func(tx *Tx) error {
		for _, batch := range [][]Announcement{
			{ann("p1", "RR000000011GB"), ann("p2", "RR000000025GB")},
			{ann("p3", "RR000000039GB")},
			{ann("p4", "RR000000011GB")}, // p1's waybill under another id
		} {
			res, err := tx.Announce(batch)
			if err != nil {
				return err
			}
			got = append(got, res)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0][0] != nil || got[0][1] != nil || got[1][0] != nil || !errors.Is(got[2][0], ErrConflict) {
		t.Fatalf("per-announcement results %v", got)
	}
	for _, id := range []ParcelID{"p1", "p2", "p3"} {
		if p := f.parcel(id); p.State != StateAnnounced {
			t.Fatalf("%s is %s", id, p.State)
		}
	}
	// The epoch's reference count, summed over the run and written once, counts them.
	var refs uint64
	if err := f.st.db().View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketEpochs).Get(epochKey(f.st.epochOf(f.clock.Now()))); len(v) == 8 {
			refs = binary.BigEndian.Uint64(v)
		}
		return nil
	}); err != nil || refs != 3 {
		t.Fatalf("epoch reference count %d (%v), want 3", refs, err)
	}
	var counts []int
	for _, e := range f.events {
		if e.Type == EvAnnounced {
			counts = append(counts, e.Count)
		}
	}
	if len(counts)-before != 1 || counts[len(counts)-1] != 3 {
		t.Fatalf("announced events %v after %d, want one counting 3", counts, before)
	}

	failed := errors.New("the caller's own record failed")
	err = f.st.Atomically(func(tx *Tx) error {
		if _, err := tx.Announce([]Announcement{ann("p5", "RR000000042GB")}); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("a failed transition: %v", err)
	}
	if _, err := f.st.ParcelInfo("p5"); !errors.Is(err, ErrUnknownParcel) {
		t.Fatalf("a failed transition's announcement was applied: %v", err)
	}
	if n := f.countEvents(EvAnnounced); n != before+1 {
		t.Fatalf("%d announced events after a failed transition, want %d", n, before+1)
	}
	f.st.Close()
	if err := f.st.Atomically(func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("a closed station: %v", err)
	}
}

// TestReannounceKeepsVerifier: a re-announcement without a verifier (a size
// correction) keeps the code set before with set-verifier.
func TestReannounceKeepsVerifier(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "", SizeS)
	if err := f.st.SetVerifier(ctx, "p-1", Verifiers{Code: f.cloud.CodeVerifier2("48213377", testPhone)}, noLegacy); err != nil {
		t.Fatal(err)
	}
	f.announce("p-1", "RB123456785GB", "", SizeM)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	f.deposit(sid, "RB123456785GB")
	if res, err := f.st.EnterCode(ctx, "48213377", testPhone); err != nil || len(res.Slots) != 1 {
		t.Fatalf("code after the re-announcement: %+v, %v", res, err)
	}
}
