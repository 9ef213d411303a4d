package cloudlink

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/clock"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
	"github.com/lockerd/lockerd/locker/store/boltstore"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// stepWall is the fixture's fake clock as a board's clocks: advance moves both,
// step the wall clock alone.
type stepWall struct {
	fc    *fakeClock
	start time.Time
	mu    sync.Mutex
	off   time.Duration
}

func (w *stepWall) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fc.Now().Add(w.off)
}
func (w *stepWall) Mono() time.Duration { return w.fc.Now().Sub(w.start) }
func (w *stepWall) step(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.off += d
}

// Issue 13: a device clock pushed forward, then back, through the command path, on a
// station whose time is a clock.Trust (ADR 0058) and whose time service says
// "synchronised" all along. Forward: the step is reported and not followed, so no
// announcement is cancelled and no command id forgotten early; commands issued by the
// cloud's clock are still accepted (the link's clock is the station's). Back: a
// redelivered command is answered from the log and an older upsert after a revoke is
// still stale (ADR 0055). The announcement is cancelled when its 14 days have really
// passed.
func TestClockForwardThenBackKeepsParcels(t *testing.T) {
	f := newStation(t)
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	f.kr.Close()
	wall := &stepWall{fc: f.clock, start: f.clock.Now()}
	trust := clock.New(wall, func() (bool, error) { return true, nil }, clock.DefaultPolicy())
	var err error
	if f.kr, err = privacy.OpenKeyring(f.dir); err != nil {
		t.Fatal(err)
	}
	if f.st, err = locker.Open(locker.Options{LockerID: "LK-C1", StorePath: filepath.Join(f.dir, "store.db"), OpenStore: boltstore.Open,
		Compartments: []locker.CompartmentSpec{{ID: 1, Size: locker.SizeM, Kind: locker.KindDoor}},
		Policy:       locker.DefaultPolicy(), Keys: f.keys, Keyring: f.kr, Unlocker: stillDoors{}, Doors: stillDoors{},
		Time: trust, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h := &commandHandler{st: f.st, log: slog.New(slog.DiscardHandler)}
	log := commandLog{f.st}
	tick := func(d time.Duration) {
		t.Helper()
		f.clock.advance(d)
		if err := f.st.Tick(); err != nil {
			t.Fatal(err)
		}
	}
	announced := func(when string) {
		t.Helper()
		p, err := f.st.ParcelInfo("p-1")
		if err != nil || p.State != locker.StateAnnounced {
			t.Fatalf("%s: p-1 %+v %v, want announced", when, p.State, err)
		}
	}
	tick(time.Second)
	now := f.clock.Now().Truncate(time.Second)
	if res, err := f.st.Announce(ctx, []locker.Announcement{f.announcement("p-1", "100000000001")}); err != nil || res[0] != nil {
		t.Fatalf("announce: %v %v", res, err)
	}
	digest := make([]byte, store.CommandDigestSize)
	if _, err := log.BeginDigest("cmd-1", now, now.Add(time.Hour), digest); err != nil {
		t.Fatal(err)
	}
	if err := log.Finish("cmd-1", reply("cmd-1", now)); err != nil {
		t.Fatal(err)
	}
	revoke := &protocol.Command{Claims: protocol.Claims{Jti: "cmd-2", Typ: protocol.CmdCourierRevoke, Iat: now.Unix(), Exp: now.Unix() + 3600},
		Parsed: &protocol.CourierRevokeBody{Courier: "c-1"}}
	if r := h.Handle(ctx, revoke); r.Status != protocol.StatusDone {
		t.Fatalf("revoke: %+v", r)
	}

	// Forward 30 days: past announced_keep (14 days) and every command's expiry.
	wall.step(30 * 24 * time.Hour)
	tick(time.Minute)
	announced("clock pushed forward")
	if st := f.st.TimeState(); !st.Trusted || st.Offset < 29*24*time.Hour {
		t.Fatalf("after the step forward: %+v", st)
	}
	if got := f.st.Now(); got.Sub(now) > time.Hour {
		t.Fatalf("the station's (and link's) clock followed the step: %v", got)
	}
	if _, known, err := log.Stored("cmd-1"); err != nil || !known {
		t.Fatalf("cmd-1 forgotten while the clock was ahead: %v %v", known, err)
	}

	// Back.
	wall.step(-30 * 24 * time.Hour)
	tick(time.Minute)
	announced("clock set back")
	if prior, err := log.BeginDigest("cmd-1", now, now.Add(time.Hour), digest); err != nil || prior == nil || prior.Status != protocol.StatusDone {
		t.Fatalf("a redelivery after the clock went forward and back: %+v %v, want the stored reply", prior, err)
	}
	upsert := &protocol.Command{Claims: protocol.Claims{Jti: "cmd-3", Typ: protocol.CmdCourierUpsert, Iat: now.Unix() - 60, Exp: now.Unix() + 3600},
		Parsed: &protocol.CourierUpsertBody{Courier: "c-1", Badge: protocol.Digest{2}, Verifier: protocol.Digest{3}, Rights: []protocol.Right{protocol.RightDeposit}}}
	if r := h.Handle(ctx, upsert); r.Reason != protocol.ReasonStale {
		t.Fatalf("an older upsert after the clock went forward and back: %+v", r)
	}

	// Time really passes: the announcement goes after its 14 days, not before.
	tick(13 * 24 * time.Hour)
	announced("13 days on")
	tick(24*time.Hour + time.Minute)
	if p, err := f.st.ParcelInfo("p-1"); err != nil || p.State != locker.StateCancelled {
		t.Fatalf("after 14 days: p-1 %+v %v, want cancelled", p.State, err)
	}
}

// openWithTrust reopens f's station with a clock.Trust over a stepWall that reads
// real time plus off, its time service answering synced.
func openWithTrust(t *testing.T, f *stationFixture, off time.Duration, synced bool) *stepWall {
	t.Helper()
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	f.kr.Close()
	wall := &stepWall{fc: f.clock, start: f.clock.Now(), off: off}
	trust := clock.New(wall, func() (bool, error) { return synced, nil }, clock.DefaultPolicy())
	var err error
	if f.kr, err = privacy.OpenKeyring(f.dir); err != nil {
		t.Fatal(err)
	}
	if f.st, err = locker.Open(locker.Options{LockerID: "LK-C1", StorePath: filepath.Join(f.dir, "store.db"), OpenStore: boltstore.Open,
		Compartments: []locker.CompartmentSpec{{ID: 1, Size: locker.SizeM, Kind: locker.KindDoor}},
		Policy:       locker.DefaultPolicy(), Keys: f.keys, Keyring: f.kr, Unlocker: stillDoors{}, Doors: stillDoors{},
		Time: trust, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	return wall
}

// A time command sets the trusted time of a station whose clock reads 1970 and whose
// time service never synchronised; one not newer than the last trusted time (a replay
// under a new id, an older one) is refused stale and changes nothing.
func TestTimeCommandSetsTheTrustedTime(t *testing.T) {
	f := newStation(t)
	real0 := f.clock.Now().Truncate(time.Second)
	openWithTrust(t, f, time.Unix(0, 0).Sub(real0), false)
	h := &commandHandler{st: f.st, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	if res, err := f.st.Announce(ctx, []locker.Announcement{f.announcement("p-1", "100000000001")}); err != nil || res[0] != nil {
		t.Fatalf("announce: %v %v", res, err)
	}
	timeCmd := func(id string, iat time.Time) link.Result {
		return h.Handle(ctx, &protocol.Command{Claims: protocol.Claims{Jti: id, Typ: protocol.CmdTime, Iat: iat.Unix(), Exp: iat.Unix() + 300},
			Parsed: &protocol.TimeBody{}})
	}
	if st := f.st.TimeState(); st.Trusted {
		t.Fatalf("a 1970 clock trusted: %+v", st)
	}
	f.clock.advance(time.Minute)
	iat := f.clock.Now().Truncate(time.Second)
	r := timeCmd("t-1", iat)
	res, ok := r.Body.(*protocol.TimeResult)
	if r.Status != protocol.StatusDone || !ok || res.Source != string(clock.SourceTime) || res.Wall.Year() != 1970 {
		t.Fatalf("time command: %+v %+v", r, r.Body)
	}
	if st := f.st.TimeState(); !st.Trusted || st.Now.Sub(iat).Abs() > time.Second {
		t.Fatalf("after the time command: %+v, want trusted at %v", st, iat)
	}
	for _, c := range []struct {
		id  string
		iat time.Time
	}{{"t-2", iat}, {"t-3", iat.Add(-time.Hour)}} {
		if r := timeCmd(c.id, c.iat); r.Status != protocol.StatusRefused || r.Reason != protocol.ReasonStale {
			t.Fatalf("time command %s issued at %v: %+v, want stale", c.id, c.iat, r)
		}
	}
	// The announcement expires by the cloud's time, 14 days after it was made.
	f.clock.advance(14*24*time.Hour + time.Minute)
	if err := f.st.Tick(); err != nil {
		t.Fatal(err)
	}
	if p, err := f.st.ParcelInfo("p-1"); err != nil || p.State != locker.StateCancelled {
		t.Fatalf("p-1 %v %v after 14 days by the cloud's time", p.State, err)
	}
}

// The station's clock anomalies go to the cloud as clock events (step, held, set and
// the station's rebased); trusted and untrusted, which every start records, and an
// unknown kind do not.
func TestClockEventsOnTheWire(t *testing.T) {
	for _, k := range []string{string(clock.KindStep), string(clock.KindHeld), string(clock.KindSet), "rebased"} {
		ev, ok := wireEvent(locker.Event{ID: "e-1", Type: locker.EvClock, Source: k, Seconds: -60, Count: 2,
			At: time.Unix(1700000000, 0), Actor: locker.ActorSystem, Reason: "words"}, 7)
		if !ok || ev.Type != protocol.EvClock {
			t.Fatalf("%s: not sent (%+v)", k, ev)
		}
		want := `{"kind":"` + k + `","by_s":-60,"count":2}`
		if string(ev.Body) != want {
			t.Fatalf("%s: body %s, want %s", k, ev.Body, want)
		}
	}
	for _, k := range []string{string(clock.KindTrusted), string(clock.KindUntrusted), "other"} {
		if _, ok := wireEvent(locker.Event{ID: "e-1", Type: locker.EvClock, Source: k, At: time.Unix(1700000000, 0)}, 7); ok {
			t.Fatalf("clock kind %s was sent", k)
		}
	}
}
