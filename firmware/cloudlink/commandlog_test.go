package cloudlink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
	"github.com/lockerd/lockerd/locker/store/boltstore"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// stationFixture is a real station on a bbolt store in a temporary directory, with
// doors that never move and a clock the test sets.
type stationFixture struct {
	t     testing.TB
	dir   string
	comps []locker.CompartmentSpec // one door when nil
	st    *locker.Station
	db    *bolt.DB
	kr    *privacy.Keyring
	keys  *privacy.Keys
	cloud *privacy.Keys
	clock *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type stillDoors struct{}

func (stillDoors) Unlock(context.Context, locker.CompartmentID) error { return nil }
func (stillDoors) DoorOpen(locker.CompartmentID) (bool, bool)         { return false, true }

func newStation(t testing.TB) *stationFixture { return newStationWith(t, nil) }

// newStationWith is newStation with compartments comps (one door when nil).
func newStationWith(t testing.TB, comps []locker.CompartmentSpec) *stationFixture {
	t.Helper()
	f := &stationFixture{t: t, dir: filepath.Join(t.TempDir(), "state"), comps: comps,
		clock: &fakeClock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}}
	id, err := privacy.LoadOrCreateIdentity(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	fpriv, fpub, err := privacy.GenerateFleetKey()
	if err != nil {
		t.Fatal(err)
	}
	if f.keys, err = privacy.DeriveKeys(id, fpub, "LK-C1"); err != nil {
		t.Fatal(err)
	}
	if f.cloud, err = privacy.DeriveCloudKeys(fpriv, id.Public(), "LK-C1"); err != nil {
		t.Fatal(err)
	}
	f.open()
	t.Cleanup(func() { f.st.Close(); f.kr.Close() })
	return f
}

func (f *stationFixture) open() {
	f.t.Helper()
	var err error
	if f.kr, err = privacy.OpenKeyring(f.dir); err != nil {
		f.t.Fatal(err)
	}
	open := func(o store.Options) (store.Store, error) {
		s, err := boltstore.Open(o)
		if err == nil {
			f.db = s.(*boltstore.Store).DB()
		}
		return s, err
	}
	comps := f.comps
	if comps == nil {
		comps = []locker.CompartmentSpec{{ID: 1, Size: locker.SizeM, Kind: locker.KindDoor}}
	}
	f.st, err = locker.Open(locker.Options{LockerID: "LK-C1", StorePath: filepath.Join(f.dir, "store.db"), OpenStore: open,
		Compartments: comps,
		Policy:       locker.DefaultPolicy(), Keys: f.keys, Keyring: f.kr, Unlocker: stillDoors{}, Doors: stillDoors{},
		Clock: f.clock, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.t.Fatal(err)
	}
}

// restart closes and reopens the station as a power cycle would.
func (f *stationFixture) restart() {
	f.t.Helper()
	if err := f.st.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.kr.Close()
	f.open()
}

// commits returns the id of the store's last write transaction: each commit (and
// fsync) adds one.
func (f *stationFixture) commits() int {
	f.t.Helper()
	var id int
	if err := f.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *stationFixture) announcement(id locker.ParcelID, tracking string) locker.Announcement {
	return locker.Announcement{ID: id, Waybill: f.cloud.Waybill(tracking), Size: locker.SizeM, Hint: "…" + tracking[len(tracking)-4:]}
}

// announceEntry is an announce command of a run: it applies batch and stores a reply
// naming id; results collects each application's per-announcement results.
func announceEntry(id string, exp time.Time, results *[][]error, batch ...locker.Announcement) commandEntry {
	return commandEntry{id: id, exp: exp, apply: func(tx *locker.Tx) ([]byte, error) {
		res, err := tx.Announce(batch)
		if err != nil {
			return nil, err
		}
		*results = append(*results, res)
		return []byte(id + " done"), nil
	}}
}

func reply(id string, at time.Time) protocol.Reply {
	return protocol.Reply{ID: id, Ref: protocol.CommandRef([]byte(id)), Typ: protocol.CmdRecall, Status: protocol.StatusDone, Time: at}
}

func TestCommandLog(t *testing.T) {
	f := newStation(t)
	log := commandLog{f.st}
	exp := f.clock.Now().Add(time.Minute)
	prior, err := log.Begin("cmd-1", exp)
	if err != nil || prior != nil {
		t.Fatalf("new id: %+v %v", prior, err)
	}
	if _, err := log.Begin("cmd-1", exp); !errors.Is(err, link.ErrInProgress) {
		t.Fatalf("begun, not finished: %v", err)
	}
	f.restart()
	log = commandLog{f.st}
	if _, err := log.Begin("cmd-1", exp); !errors.Is(err, link.ErrInProgress) {
		t.Fatalf("in progress survives a crash: %v", err)
	}
	if r, known, err := log.Stored("cmd-1"); err != nil || !known || r != nil {
		t.Fatalf("stored, in progress: %+v %v %v", r, known, err)
	}
	done := reply("cmd-1", f.clock.Now())
	if err := log.Finish("cmd-1", done); err != nil {
		t.Fatal(err)
	}
	prior, err = log.Begin("cmd-1", exp)
	if err != nil || prior == nil || prior.Status != protocol.StatusDone || prior.Ref != done.Ref {
		t.Fatalf("duplicate: %+v %v", prior, err)
	}
	if err := log.Finish("never-begun", reply("never-begun", f.clock.Now())); err == nil {
		t.Fatal("finished an unknown command")
	}
	if _, err := log.Begin("", exp); err == nil {
		t.Fatal("empty id")
	}
	if r, known, err := log.Stored("cmd-2"); err != nil || known || r != nil {
		t.Fatalf("an unknown id: %+v %v %v", r, known, err)
	}
	tick := func(d time.Duration) {
		t.Helper()
		f.clock.advance(d)
		if err := f.st.Tick(); err != nil {
			t.Fatal(err)
		}
	}
	tick(2 * time.Minute)
	if r, known, err := log.Stored("cmd-1"); err != nil || !known || r == nil || r.Ref != done.Ref {
		t.Fatalf("an id just past its expiry is still answered from the log: %+v %v %v", r, known, err)
	}
	tick(store.CommandGrace)
	if _, known, _ := log.Stored("cmd-1"); known {
		t.Fatal("an id long expired is still kept")
	}
	prior, err = log.Begin("cmd-1", exp.Add(time.Hour))
	if err != nil || prior != nil {
		t.Fatalf("an expired id is forgotten: %+v %v", prior, err)
	}
	f.st.Close()
	if _, err := log.Begin("cmd-3", exp); !errors.Is(err, locker.ErrClosed) {
		t.Fatalf("a closed station: %v", err)
	}
}

// TestCommandEmptyReplyRefused: an empty final reply is refused rather than stored,
// where it would read back as "in progress" and the command as outcome unknown.
func TestCommandEmptyReplyRefused(t *testing.T) {
	f := newStation(t)
	exp := f.clock.Now().Add(time.Minute)
	if _, err := (commandLog{f.st}).Begin("cmd-e", exp); err != nil {
		t.Fatal(err)
	}
	finish := func(reply []byte) error {
		return f.st.Atomically(func(tx *locker.Tx) error { return tx.Commands().FinishCommand("cmd-e", reply) })
	}
	if err := finish(nil); !errors.Is(err, store.ErrEmptyReply) {
		t.Fatalf("an empty final reply: %v", err)
	}
	if out := commandRecord(f.st, "cmd-f", time.Time{}, exp, nil, nil); !errors.Is(out.err, store.ErrEmptyReply) {
		t.Fatalf("an empty recorded reply: %v", out.err)
	}
	if err := finish([]byte(`{"status":"done"}`)); err != nil {
		t.Fatal(err)
	}
	if out := commandRecord(f.st, "cmd-e", time.Time{}, exp, nil, []byte("again")); !errors.Is(out.err, errCommandKnown) || string(out.stored) != `{"status":"done"}` {
		t.Fatalf("stored: %q %v", out.stored, out.err)
	}
}

// TestCommandAnnounceRun: a run of announce commands is applied and recorded in one
// transition; a known id is answered from the log and not applied again, one in
// progress is not applied either, and a conflicting announcement is refused in its own
// command's results without failing the others.
func TestCommandAnnounceRun(t *testing.T) {
	f := newStation(t)
	exp := f.clock.Now().Add(time.Hour)
	if _, err := (commandLog{f.st}).Begin("c0", exp); err != nil {
		t.Fatal(err)
	}
	var got [][]error
	out, err := commandRun(f.st, []commandEntry{
		announceEntry("c1", exp, &got, f.announcement("p1", "RR000000011GB"), f.announcement("p2", "RR000000025GB")),
		announceEntry("c2", exp, &got, f.announcement("p3", "RR000000039GB")),
		announceEntry("c0", exp, &got, f.announcement("p9", "RR000000056GB")),
		announceEntry("c3", exp, &got, f.announcement("p4", "RR000000011GB")), // p1's waybill under another id
	})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].err != nil || out[1].err != nil || !errors.Is(out[2].err, link.ErrInProgress) || out[3].err != nil {
		t.Fatalf("outcomes %+v", out)
	}
	if len(got) != 3 || got[0][0] != nil || got[0][1] != nil || got[1][0] != nil || !errors.Is(got[2][0], locker.ErrConflict) {
		t.Fatalf("per-announcement results %v", got)
	}
	for _, id := range []locker.ParcelID{"p1", "p2", "p3"} {
		if p, err := f.st.ParcelInfo(id); err != nil || p.State != locker.StateAnnounced {
			t.Fatalf("%s: %+v %v", id, p, err)
		}
	}
	if _, err := f.st.ParcelInfo("p9"); !errors.Is(err, locker.ErrUnknownParcel) {
		t.Fatalf("the batch of a command in progress was applied: %v", err)
	}

	got = nil
	out, err = commandRun(f.st, []commandEntry{announceEntry("c2", exp, &got, f.announcement("p5", "RR000000042GB"))})
	if err != nil || !errors.Is(out[0].err, errCommandKnown) || string(out[0].stored) != "c2 done" || got != nil {
		t.Fatalf("known id: %+v %v (ran: %v)", out, err, got)
	}
	if _, err := f.st.ParcelInfo("p5"); !errors.Is(err, locker.ErrUnknownParcel) {
		t.Fatalf("a known id's batch was applied: %v", err)
	}
	failed := errors.New("apply failed")
	out, err = commandRun(f.st, []commandEntry{
		announceEntry("c4", exp, &got, f.announcement("p6", "RR000000073GB")),
		{id: "c5", exp: exp, apply: func(*locker.Tx) ([]byte, error) { return nil, failed }},
	})
	if !errors.Is(err, failed) || out != nil {
		t.Fatalf("a failed apply: %+v %v", out, err)
	}
	if _, err := f.st.ParcelInfo("p6"); !errors.Is(err, locker.ErrUnknownParcel) {
		t.Fatalf("a failed run's first command was applied: %v", err)
	}
	if _, known, err := (commandLog{f.st}).Stored("c4"); known || err != nil {
		t.Fatalf("a failed run's first command was recorded: %v %v", known, err)
	}
}

// TestOneCommitPerCommandRun pins the durable writes of the command log
// (docs/adr/0027-one-write-per-command.md): a run of commands with no physical
// effect is one commit, a recorded query one, a command begun and finished two, and
// reading the log none.
func TestOneCommitPerCommandRun(t *testing.T) {
	f := newStation(t)
	exp := f.clock.Now().Add(time.Hour)
	count := func(name string, want int, action func()) {
		t.Helper()
		before := f.commits()
		action()
		if got := f.commits() - before; got != want {
			t.Errorf("%s: %d commits, want %d", name, got, want)
		}
	}
	var results [][]error
	count("a run of three announce commands", 1, func() {
		out, err := commandRun(f.st, []commandEntry{
			announceEntry("a1", exp, &results, f.announcement("p-1", "RB123456785GB")),
			announceEntry("a2", exp, &results, f.announcement("p-2", "RR000000011GB")),
			announceEntry("a3", exp, &results, f.announcement("p-3", "RR000000025GB")),
		})
		if err != nil || out[0].err != nil || out[2].err != nil {
			t.Fatalf("announce: %v %+v", err, out)
		}
	})
	count("a read-only command recorded", 1, func() {
		if out := commandRecord(f.st, "q1", time.Time{}, exp, nil, []byte(`{"ok":true}`)); out.err != nil {
			t.Fatal(out.err)
		}
	})
	log := commandLog{f.st}
	count("a command begun and finished", 2, func() {
		if _, err := log.Begin("b1", exp); err != nil {
			t.Fatal(err)
		}
		if err := log.Finish("b1", reply("b1", f.clock.Now())); err != nil {
			t.Fatal(err)
		}
	})
	count("a stored reply read", 0, func() {
		if _, known, err := log.Stored("b1"); err != nil || !known {
			t.Fatal(known, err)
		}
	})
}

// TestCommandDigest: the log keeps each command's body digest beside its id; a known id
// with the same digest is answered from the log, with another refused link.ErrConflict
// and nothing written, and an id recorded without a digest (an older build's record)
// is answered from the log whatever the body. The digest is forgotten with its id
// (docs/adr/0055-command-ordering-and-jti-reuse.md).
func TestCommandDigest(t *testing.T) {
	f := newStation(t)
	log := commandLog{f.st}
	exp := f.clock.Now().Add(time.Minute)
	a, b := bytes.Repeat([]byte{1}, store.CommandDigestSize), bytes.Repeat([]byte{2}, store.CommandDigestSize)
	if prior, err := log.BeginDigest("cmd-d", time.Time{}, exp, a); err != nil || prior != nil {
		t.Fatalf("new id: %+v %v", prior, err)
	}
	if _, err := log.BeginDigest("cmd-d", time.Time{}, exp, b); !errors.Is(err, link.ErrConflict) {
		t.Fatalf("another body while in progress: %v", err)
	}
	done := reply("cmd-d", f.clock.Now())
	if err := log.Finish("cmd-d", done); err != nil {
		t.Fatal(err)
	}
	if prior, err := log.BeginDigest("cmd-d", time.Time{}, exp, a); err != nil || prior == nil || prior.Ref != done.Ref {
		t.Fatalf("the same body: %+v %v", prior, err)
	}
	if _, err := log.BeginDigest("cmd-d", time.Time{}, exp, b); !errors.Is(err, link.ErrConflict) {
		t.Fatalf("another body: %v", err)
	}
	if _, _, err := log.StoredDigest("cmd-d", b); !errors.Is(err, link.ErrConflict) {
		t.Fatalf("another body, stored: %v", err)
	}
	if r, known, err := log.StoredDigest("cmd-d", a); err != nil || !known || r == nil || r.Ref != done.Ref {
		t.Fatalf("the same body, stored: %+v %v %v", r, known, err)
	}

	// An older build's record: no digest; answered as before.
	if _, err := log.Begin("cmd-old", exp); err != nil {
		t.Fatal(err)
	}
	if err := log.Finish("cmd-old", reply("cmd-old", f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if prior, err := log.BeginDigest("cmd-old", time.Time{}, exp, b); err != nil || prior == nil {
		t.Fatalf("a record without a digest: %+v %v", prior, err)
	}

	// In a run: the conflicting entry applies nothing; the others run.
	var applied []string
	entry := func(id string, digest []byte) commandEntry {
		return commandEntry{id: id, exp: exp, digest: digest, apply: func(*locker.Tx) ([]byte, error) {
			applied = append(applied, id)
			r := reply(id, f.clock.Now())
			return protocol.EncodeReply(&r)
		}}
	}
	out, err := commandRun(f.st, []commandEntry{entry("cmd-d", b), entry("cmd-r", a), entry("cmd-d", a)})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(out[0].err, link.ErrConflict) || out[1].err != nil || !errors.Is(out[2].err, errCommandKnown) || !slices.Equal(applied, []string{"cmd-r"}) {
		t.Fatalf("run: %+v, applied %v", out, applied)
	}
	if _, err := log.BeginDigest("cmd-r", time.Time{}, exp, b); !errors.Is(err, link.ErrConflict) {
		t.Fatalf("a run stores the digest: %v", err)
	}

	f.clock.advance(2*time.Minute + store.CommandGrace)
	if err := f.st.Tick(); err != nil {
		t.Fatal(err)
	}
	if prior, err := log.BeginDigest("cmd-d", time.Time{}, exp.Add(2*time.Hour), b); err != nil || prior != nil {
		t.Fatalf("an expired id is forgotten with its digest: %+v %v", prior, err)
	}
}
