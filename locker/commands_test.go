package locker

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestCommandLog(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	exp := f.clock.Now().Add(time.Minute)
	prior, err := f.st.CommandBegin("cmd-1", exp)
	if err != nil || prior != nil {
		t.Fatalf("new id: %q %v", prior, err)
	}
	if _, err := f.st.CommandBegin("cmd-1", exp); !errors.Is(err, ErrCommandInProgress) {
		t.Fatalf("begun, not finished: %v", err)
	}
	f.restart()
	if _, err := f.st.CommandBegin("cmd-1", exp); !errors.Is(err, ErrCommandInProgress) {
		t.Fatalf("in progress survives a crash: %v", err)
	}
	if err := f.st.CommandFinish("cmd-1", []byte(`{"status":"done"}`)); err != nil {
		t.Fatal(err)
	}
	prior, err = f.st.CommandBegin("cmd-1", exp)
	if err != nil || string(prior) != `{"status":"done"}` {
		t.Fatalf("duplicate: %q %v", prior, err)
	}
	if err := f.st.CommandFinish("never-begun", nil); err == nil {
		t.Fatal("finished an unknown command")
	}
	if _, err := f.st.CommandBegin("", exp); err == nil {
		t.Fatal("empty id")
	}
	f.tick(2 * time.Minute)
	if reply, known, err := f.st.CommandStored("cmd-1"); err != nil || !known || string(reply) != `{"status":"done"}` {
		t.Fatalf("an id just past its expiry is still answered from the log: %q %v %v", reply, known, err)
	}
	f.tick(commandGrace)
	if _, known, _ := f.st.CommandStored("cmd-1"); known {
		t.Fatal("an id long expired is still kept")
	}
	prior, err = f.st.CommandBegin("cmd-1", exp.Add(time.Hour))
	if err != nil || prior != nil {
		t.Fatalf("an expired id is forgotten: %q %v", prior, err)
	}
}

// TestCommandAnnounceRun: a run of announce commands is applied and recorded in one
// transaction with one announced event counting every parcel it applied; a known id
// is answered from the log and not applied again, and a conflicting announcement is
// refused in its own command's results without failing the others.
func TestCommandAnnounceRun(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	exp := f.clock.Now().Add(time.Hour)
	ann := func(id ParcelID, tracking string) Announcement {
		return Announcement{ID: id, Waybill: f.cloud.Waybill(tracking), Size: SizeM, Hint: "…" + tracking[len(tracking)-4:]}
	}
	var got [][]error
	cmd := func(id string, batch ...Announcement) AnnounceCommand {
		return AnnounceCommand{ID: id, Exp: exp, Batch: batch, Reply: func(results []error) ([]byte, error) {
			got = append(got, results)
			return []byte(id + " done"), nil
		}}
	}
	before := f.countEvents(EvAnnounced)
	out, err := f.st.CommandAnnounce(context.Background(), []AnnounceCommand{
		cmd("c1", ann("p1", "RR000000011GB"), ann("p2", "RR000000025GB")),
		cmd("c2", ann("p3", "RR000000039GB")),
		cmd("c3", ann("p4", "RR000000011GB")), // p1's waybill under another id
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("command %d: %v", i, o.Err)
		}
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

	got = nil
	out, err = f.st.CommandAnnounce(context.Background(), []AnnounceCommand{cmd("c2", ann("p5", "RR000000042GB"))})
	if err != nil || !errors.Is(out[0].Err, ErrCommandKnown) || string(out[0].Stored) != "c2 done" || got != nil {
		t.Fatalf("known id: %+v %v (ran: %v)", out, err, got)
	}
	if _, err := f.st.ParcelInfo("p5"); !errors.Is(err, ErrUnknownParcel) {
		t.Fatalf("a known id's batch was applied: %v", err)
	}
	if n := f.countEvents(EvAnnounced); n != before+1 {
		t.Fatalf("%d announced events after a known id, want %d", n, before+1)
	}
}

// TestReannounceKeepsVerifier: a re-announcement without a verifier (a size
// correction) keeps the code set before with set-verifier.
func TestReannounceKeepsVerifier(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "", SizeS)
	if err := f.st.SetVerifier(ctx, "p-1", f.cloud.CodeVerifier("48213377")); err != nil {
		t.Fatal(err)
	}
	f.announce("p-1", "RB123456785GB", "", SizeM)
	sid := f.courier("c-1", "BADGE-1", "2468", Rights{Deposit: true})
	f.deposit(sid, "RB123456785GB")
	if res, err := f.st.EnterCode(ctx, "48213377"); err != nil || len(res.Slots) != 1 {
		t.Fatalf("code after the re-announcement: %+v, %v", res, err)
	}
}

// TestCommandEmptyReplyRefused: an empty final reply is refused rather than stored,
// where it would read back as "in progress" and the command as outcome unknown.
func TestCommandEmptyReplyRefused(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	exp := f.clock.Now().Add(time.Minute)
	if _, err := f.st.CommandBegin("cmd-e", exp); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CommandFinish("cmd-e", nil); err == nil {
		t.Fatal("an empty final reply was stored")
	}
	if err := f.st.CommandFinish("cmd-e", []byte(`{"status":"done"}`)); err != nil {
		t.Fatal(err)
	}
	if reply, known, err := f.st.CommandStored("cmd-e"); err != nil || !known || string(reply) != `{"status":"done"}` {
		t.Fatalf("stored: %q %v %v", reply, known, err)
	}
}
