package locker

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/clock"
)

// stepClock is the fixture's fake clock seen as a board's clocks: the fixture's
// helpers advance both, as time passing does; step moves the wall clock alone, as
// fake-hwclock, settimeofday or an NTP step does. Its monotonic clock starts at the
// station's (re)start, as a boot's does.
type stepClock struct {
	fc    *fakeClock
	mu    sync.Mutex
	start time.Time
	step  time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fc.Now().Add(c.step)
}
func (c *stepClock) Mono() time.Duration { return c.fc.Now().Sub(c.start) }
func (c *stepClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step += d
}
func (c *stepClock) AfterFunc(d time.Duration, f func()) func() bool { return c.fc.AfterFunc(d, f) }

// timeFixture is a station whose time is decided by a clock.Trust over a stepClock,
// with a time service the test says is synchronised or not.
type timeFixture struct {
	*fixture
	wall   *stepClock
	synced atomic.Bool
}

func newTimeFixture(t *testing.T) *timeFixture {
	f := &timeFixture{fixture: newFixture(t, mixedSpecs())}
	f.wall = &stepClock{fc: f.clock, start: f.clock.Now()}
	f.synced.Store(true)
	f.boot(0)
	return f
}

// boot restarts the station as a power cycle does, its wall clock set to real time
// plus offset (0: a clock chip or NTP got it right) and a new monotonic clock.
func (f *timeFixture) boot(offset time.Duration) {
	f.t.Helper()
	if f.st != nil {
		if err := f.st.Close(); err != nil {
			f.t.Fatal(err)
		}
		f.opt.Keyring.Close()
	}
	f.wall = &stepClock{fc: f.clock, start: f.clock.Now(), step: offset}
	f.opt.Clock = nil
	f.opt.Time = clock.New(f.wall, func() (bool, error) { return f.synced.Load(), nil }, clock.DefaultPolicy())
	f.open()
}

// real is the time outside the locker.
func (f *timeFixture) real() time.Time { return f.clock.Now() }

// untouched fails unless each parcel is still in its state.
func (f *timeFixture) untouched(want map[ParcelID]ParcelState) {
	f.t.Helper()
	for id, s := range want {
		if p := f.parcel(id); p.State != s {
			f.t.Fatalf("%s is %s on an untrusted clock, want %s", id, p.State, s)
		}
	}
}

// pickUp serves a pickup by code and fails unless its door opened.
func (f *timeFixture) pickUp(id ParcelID, code string) {
	f.t.Helper()
	f.clock.Advance(2 * time.Second)
	res, err := f.st.EnterCode(ctx, code, testPhone)
	if err != nil || len(res.Slots) != 1 {
		f.t.Fatalf("pickup of %s: %+v %v", id, res, err)
	}
	f.openClose(res.Slots[0].Compartment)
	if p := f.parcel(id); p.State != StatePickedUp {
		f.t.Fatalf("%s is %s after its pickup", id, p.State)
	}
}

func (f *timeFixture) clockEvents(kind clock.Kind) int {
	n := 0
	for _, e := range f.events {
		if e.Type == EvClock && e.Source == string(kind) {
			n++
		}
	}
	return n
}

// stock deposits p-dep (expires after the 72-hour retention), p-pick (to be picked
// up, then purged a day later) and announces p-ann (cancelled after 14 days), on a
// trusted clock.
func (f *timeFixture) stock() {
	f.t.Helper()
	f.announce("p-dep", "100000000001", "11110001", SizeS)
	f.announce("p-pick", "100000000002", "22220002", SizeS)
	f.announce("p-late", "100000000003", "33330003", SizeS)
	f.announce("p-ann", "100000000004", "44440004", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	f.deposit(sid, "100000000001")
	f.deposit(sid, "100000000002")
	f.deposit(sid, "100000000003")
	f.tick(time.Second)
	if st := f.st.TimeState(); !st.Trusted {
		f.t.Fatalf("a synchronised clock is not trusted: %+v", st)
	}
}

var stocked = map[ParcelID]ParcelState{"p-dep": StateDeposited, "p-late": StateDeposited, "p-ann": StateAnnounced}

// Boot in 1970 (no clock chip, no saved time) with no network: the station serves
// pickups for weeks and expires, cancels and purges nothing; once NTP synchronises
// the clock, what is due by the real time happens.
func TestTimeBootIn1970(t *testing.T) {
	f := newTimeFixture(t)
	f.stock()
	f.synced.Store(false)
	f.boot(time.Unix(0, 0).Sub(f.real()))
	if st := f.st.TimeState(); st.Trusted || st.Now.Before(f.real().Add(-time.Minute)) {
		t.Fatalf("1970 boot: %+v (the station's clock must read no earlier than its floor)", st)
	}
	f.pickUp("p-pick", "22220002")
	for range 20 { // 20 days: past retention, announced_keep and purge_after
		f.tick(24 * time.Hour)
		f.untouched(stocked)
	}
	if _, err := f.st.ParcelInfo("p-pick"); err != nil {
		t.Fatalf("p-pick purged on an untrusted clock: %v", err)
	}
	if f.clockEvents(clock.KindUntrusted) != 1 {
		t.Fatalf("untrusted reported %d times, want once", f.clockEvents(clock.KindUntrusted))
	}
	f.pickUp("p-late", "33330003")

	// NTP steps the clock to the real time and says it is synchronised.
	f.wall.Step(f.real().Sub(f.wall.Now()))
	f.synced.Store(true)
	f.tick(time.Second)
	if p := f.parcel("p-dep"); p.State != StateExpired {
		t.Fatalf("p-dep %s once the time is trusted", p.State)
	}
	if p := f.parcel("p-ann"); p.State != StateCancelled {
		t.Fatalf("p-ann %s once the time is trusted", p.State)
	}
	if f.clockEvents(clock.KindTrusted) != 2 { // the first boot's, and this one
		t.Fatalf("trusted reported %d times", f.clockEvents(clock.KindTrusted))
	}
}

// Boot a week late: the station was off for a week and an hour. With the time
// fake-hwclock saved (a week behind), nothing happens until NTP steps it; a
// synchronised clock more than a week beyond the last trusted time waits for the
// cloud's confirmation (a verified command's iat).
func TestTimeBootAWeekLate(t *testing.T) {
	f := newTimeFixture(t)
	f.stock()
	floor := f.real()
	f.clock.Advance(7*24*time.Hour + time.Hour) // off
	f.synced.Store(false)
	f.boot(floor.Sub(f.real())) // fake-hwclock: the time saved at shutdown
	f.tick(time.Minute)
	f.untouched(stocked)
	f.pickUp("p-pick", "22220002")

	// NTP steps the clock a week forward: further beyond the floor than GapBound.
	f.wall.Step(f.real().Sub(f.wall.Now()))
	f.synced.Store(true)
	for range 3 {
		f.tick(time.Hour)
		f.untouched(stocked)
	}
	if st := f.st.TimeState(); st.Trusted {
		t.Fatalf("a week beyond the floor trusted without confirmation: %+v", st)
	}
	f.pickUp("p-late", "33330003")

	// A command the cloud issued a minute ago confirms the clock.
	if err := f.st.ConfirmTime(f.real().Add(-time.Minute), false); err != nil {
		t.Fatal(err)
	}
	f.tick(time.Second)
	if p := f.parcel("p-dep"); p.State != StateExpired {
		t.Fatalf("p-dep %s once the cloud confirmed the time", p.State)
	}
}

// Off for three days, booted with the saved time, then synchronised by NTP: within
// GapBound of the floor, so the synchronised clock is trusted and what fell due while
// the station was off happens at once. A parcel deposited before NTP answered got its
// deadline from the saved time, three days early: it is moved by the correction and
// expires 72 hours after its deposit, not at the synchronisation.
func TestTimeBootThreeDaysLateThenSync(t *testing.T) {
	f := newTimeFixture(t)
	f.stock()
	floor := f.real()
	f.clock.Advance(73 * time.Hour) // past p-dep's retention
	f.synced.Store(false)
	f.boot(floor.Sub(f.real()))
	f.tick(time.Minute)
	f.untouched(stocked)
	f.announce("p-new", "100000000005", "55550005", SizeS)
	f.deposit(f.courier("c-2", "BADGE-2-ABCDEFGHIJKLMNOPQR", "1357", Rights{Deposit: true}), "100000000005")
	f.tick(time.Hour)
	f.wall.Step(f.real().Sub(f.wall.Now()))
	f.synced.Store(true)
	f.tick(time.Second)
	if p := f.parcel("p-dep"); p.State != StateExpired {
		t.Fatalf("p-dep %s on a synchronised clock past its retention", p.State)
	}
	if p := f.parcel("p-new"); p.State != StateDeposited || p.ExpiresAt.Before(f.real().Add(70*time.Hour)) {
		t.Fatalf("p-new, deposited an hour ago on the saved time: %s until %v (now %v)", p.State, p.ExpiresAt, f.real())
	}
	if e := f.lastEvent(EvClock); e.Source != "rebased" || e.Count < 1 {
		t.Fatalf("no rebase reported: %+v", e)
	}
	f.tick(70 * time.Hour)
	if p := f.parcel("p-new"); p.State != StateDeposited {
		t.Fatalf("p-new %s 71 hours after its deposit", p.State)
	}
	f.tick(2 * time.Hour)
	if p := f.parcel("p-new"); p.State != StateExpired {
		t.Fatalf("p-new %s 73 hours after its deposit", p.State)
	}
}

// A jump forward of a year on a running, synchronised station (a wrong NTP server, a
// technician's typo): reported, not followed; the station goes on by its trusted time,
// so parcels expire when their retention has really passed, not at the jump. After a
// restart the year-ahead clock is beyond GapBound and waits for the cloud.
func TestTimeJumpForwardAYear(t *testing.T) {
	f := newTimeFixture(t)
	f.stock()
	f.wall.Step(365 * 24 * time.Hour)
	f.tick(time.Minute)
	f.untouched(stocked)
	if f.clockEvents(clock.KindStep) != 1 || f.clockEvents(clock.KindHeld) != 1 {
		t.Fatalf("jump reported %d/%d times, want a step and a hold", f.clockEvents(clock.KindStep), f.clockEvents(clock.KindHeld))
	}
	if !strings.Contains(f.logs.String(), "wall clock stepped forward") {
		t.Fatalf("no log line for the jump:\n%s", f.logs)
	}
	f.pickUp("p-pick", "22220002")
	f.tick(71 * time.Hour)
	f.untouched(stocked)
	f.tick(2 * time.Hour) // retention passed by the trusted time
	if p := f.parcel("p-dep"); p.State != StateExpired {
		t.Fatalf("p-dep %s 73 hours after its deposit", p.State)
	}

	f.announce("p-fresh", "100000000006", "66660006", SizeS)
	f.deposit(f.courier("c-2", "BADGE-2-ABCDEFGHIJKLMNOPQR", "1357", Rights{Deposit: true}), "100000000006")
	f.boot(365 * 24 * time.Hour) // restarted with the clock still a year ahead
	f.tick(48 * time.Hour)
	if p := f.parcel("p-ann"); p.State != StateAnnounced {
		t.Fatalf("p-ann %s after a restart a year ahead", p.State)
	}
	if st := f.st.TimeState(); st.Trusted {
		t.Fatalf("a clock a year beyond the floor trusted after a restart: %+v", st)
	}
	f.pickUp("p-fresh", "66660006")
}

// A step back of 30 days on a running station: reported; the trusted time goes on,
// parcels deposited after the step get deadlines by it, and nothing expires early.
func TestTimeStepBack(t *testing.T) {
	f := newTimeFixture(t)
	f.stock()
	f.wall.Step(-30 * 24 * time.Hour)
	f.tick(time.Minute)
	if f.clockEvents(clock.KindStep) != 1 {
		t.Fatal("step back not reported")
	}
	f.untouched(stocked)
	f.pickUp("p-pick", "22220002")
	f.tick(24 * time.Hour)
	f.announce("p-new", "100000000005", "55550005", SizeS)
	sid := f.courier("c-2", "BADGE-2-ABCDEFGHIJKLMNOPQR", "1357", Rights{Deposit: true})
	f.deposit(sid, "100000000005")
	f.tick(47 * time.Hour)
	f.untouched(stocked)
	if p := f.parcel("p-new"); p.State != StateDeposited {
		t.Fatalf("p-new %s", p.State)
	}
	f.tick(2 * time.Hour)
	if p := f.parcel("p-dep"); p.State != StateExpired {
		t.Fatalf("p-dep %s after its retention by the trusted time", p.State)
	}
	if p := f.parcel("p-new"); p.State != StateDeposited {
		t.Fatalf("p-new %s before its retention", p.State)
	}
	// Restarted with the clock still 30 days behind the floor: not trusted, even
	// synchronised.
	f.boot(-30 * 24 * time.Hour)
	f.tick(24 * time.Hour)
	if p := f.parcel("p-new"); p.State != StateDeposited {
		t.Fatalf("p-new %s after a restart on a clock behind the floor", p.State)
	}
	if st := f.st.TimeState(); st.Trusted {
		t.Fatalf("a clock 30 days behind the floor trusted: %+v", st)
	}
	f.pickUp("p-new", "55550005")
}
