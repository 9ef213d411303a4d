package clock

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Source says what the trusted time rests on.
type Source string

// The sources of trust.
const (
	SourceNone    Source = ""        // not trusted
	SourceSync    Source = "sync"    // the system's time service says the clock is synchronised
	SourceCommand Source = "command" // a verified command's iat agreed with the wall clock
	SourceTime    Source = "time"    // a time command from the cloud set it; the wall clock disagreed
)

// Synced reports whether the system's time service says the wall clock is
// synchronised (SystemSynced on Linux).
type Synced func() (bool, error)

// Policy bounds what Trust believes.
type Policy struct {
	// JumpBound: a wall clock that steps by more than this between two looks, or that
	// is further than this from the trusted time, is reported and not followed; a
	// command's iat confirms the wall clock when they are this close.
	JumpBound time.Duration
	// GapBound: at start, a synchronised wall clock more than this beyond the floor
	// (the last trusted time) is not trusted until the cloud confirms it: the station
	// was off for longer, or its time service is wrong.
	GapBound time.Duration
}

// DefaultPolicy is lockerd's: steps over 10 minutes are reported; a station off for
// more than 7 days (protocol.MaxLifetime: no command outlives that) waits for the
// cloud's word before it expires anything.
func DefaultPolicy() Policy { return Policy{JumpBound: 10 * time.Minute, GapBound: 7 * 24 * time.Hour} }

// State is what Observe found.
type State struct {
	Trusted bool
	// Now is the trusted time when Trusted, else the station's best reading (Trust.Now):
	// never earlier than the floor advanced by the monotonic clock.
	Now    time.Time
	Source Source
	Offset time.Duration // the wall clock minus the trusted time (0 when not trusted)
	Reason string        // why not trusted, or why the wall clock is not followed
}

// Kind names a Change.
type Kind string

// The kinds of Change.
const (
	KindStep      Kind = "step"      // the wall clock stepped by more than JumpBound
	KindHeld      Kind = "held"      // the wall clock is off the trusted time: it is not followed
	KindTrusted   Kind = "trusted"   // the time is trusted (again), Reason says why
	KindUntrusted Kind = "untrusted" // the time is not trusted; irreversible timers wait
	KindSet       Kind = "set"       // a time command set the trusted time
)

// Change is something the station reports: a log line and an audited event.
type Change struct {
	Kind   Kind
	By     time.Duration // KindStep, KindHeld, KindSet: how far (negative: back)
	Reason string
}

// ErrStale refuses a time command not newer than the floor: a replayed or delayed
// time command never moves the trusted time.
var ErrStale = errors.New("clock: time command not newer than the last trusted time")

// Trust is the station's knowledge of the time. Its methods are safe for concurrent
// use.
type Trust struct {
	mu     sync.Mutex
	clk    Clock
	synced Synced
	pol    Policy

	floor     time.Time     // the newest time known to have passed (zero: none)
	floorMono time.Duration // the monotonic reading when floor was known

	anchored   bool
	anchorWall time.Time
	anchorMono time.Duration
	src        Source

	seen     bool
	lastWall time.Time
	lastMono time.Duration

	held    string // the kind of the condition last reported (untrusted or held), "" when none
	syncErr bool   // the time service's error was logged once

	// Provisional readings: Now read without an anchor (deadlines may have been set by
	// them). provBase is the earliest of them less the monotonic reading: when the
	// first anchor, read the same way, is more than JumpBound later, the difference is
	// the correction the station applies to those deadlines (TakeCorrection). The
	// earliest, so that a step of the wall clock between two readings moves the
	// deadlines by the larger amount: later, never earlier.
	provUsed   bool
	provBase   time.Time
	provFirst  time.Time // the first provisional reading of this run
	correction time.Duration
	corrSince  time.Time
}

// New returns a Trust on clk, asking synced (nil: never synchronised) whether the
// system's time service vouches for it.
func New(clk Clock, synced Synced, pol Policy) *Trust {
	if synced == nil {
		synced = func() (bool, error) { return false, nil }
	}
	if pol.JumpBound <= 0 || pol.GapBound <= 0 {
		d := DefaultPolicy()
		pol.JumpBound, pol.GapBound = cmp(pol.JumpBound, d.JumpBound), cmp(pol.GapBound, d.GapBound)
	}
	// The first look's baseline: a step before it (a command confirmed the time
	// first) is still measured.
	return &Trust{clk: clk, synced: synced, pol: pol, seen: true, lastWall: clk.Now().Round(0), lastMono: clk.Mono()}
}

func cmp(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// Policy returns the bounds in force.
func (t *Trust) Policy() Policy { return t.pol }

// Now is the station's clock: the trusted time when there is one, else the wall clock
// but never earlier than the floor advanced by the monotonic clock.
func (t *Trust) Now() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, m := t.clk.Now().Round(0), t.clk.Mono()
	if t.anchored {
		return t.estimate(m)
	}
	r := t.provisional(w, m)
	if b := r.Add(-m); !t.provUsed || b.Before(t.provBase) {
		t.provBase = b
	}
	if t.provFirst.IsZero() {
		t.provFirst = r
	}
	t.provUsed = true
	return r
}

// provisional is the station's clock without an anchor: the wall clock w read at m,
// but never earlier than the floor advanced by the monotonic clock.
func (t *Trust) provisional(w time.Time, m time.Duration) time.Time {
	if lb := t.lowerBound(m); w.Before(lb) {
		return lb
	}
	return w
}

// TakeCorrection returns, once, how far the first anchor of this run moved the
// station's clock forward from its provisional readings, when that is more than
// JumpBound (else 0), and the first provisional reading: what the station wrote at or
// after since, on those readings, is by too early.
func (t *Trust) TakeCorrection() (by time.Duration, since time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	by, since = t.correction, t.corrSince
	t.correction = 0
	return by, since
}

// AfterFunc runs f after d: on the underlying clock's AfterFunc when it has one (a
// test's fake), else time.AfterFunc.
func (t *Trust) AfterFunc(d time.Duration, f func()) func() bool {
	if a, ok := t.clk.(interface {
		AfterFunc(time.Duration, func()) func() bool
	}); ok {
		return a.AfterFunc(d, f)
	}
	return time.AfterFunc(d, f).Stop
}

// Floor is the newest time known to have passed, as last raised (not advanced by the
// monotonic clock): what the station stores.
func (t *Trust) Floor() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.floor
}

// RaiseFloor makes f the floor if it is later than the floor advanced by the monotonic
// clock: f is a time known to have passed (the stored floor at start, a verified
// command's iat).
func (t *Trust) RaiseFloor(f time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.raiseFloor(f.Round(0), t.clk.Mono())
}

func (t *Trust) raiseFloor(f time.Time, m time.Duration) {
	if f.IsZero() || !f.After(t.lowerBound(m)) {
		return
	}
	t.floor, t.floorMono = f, m
}

func (t *Trust) lowerBound(m time.Duration) time.Time {
	if t.floor.IsZero() {
		return time.Time{}
	}
	return t.floor.Add(m - t.floorMono)
}

func (t *Trust) estimate(m time.Duration) time.Time { return t.anchorWall.Add(m - t.anchorMono) }

func (t *Trust) anchor(w time.Time, m time.Duration, src Source) {
	if !t.anchored && t.provUsed {
		if j := w.Add(-m).Sub(t.provBase); j > t.pol.JumpBound {
			t.correction, t.corrSince = j, t.provFirst
		}
		t.provUsed = false
	}
	t.anchored, t.anchorWall, t.anchorMono, t.src = true, w, m, src
	t.raiseFloor(w, m)
}

// Observe looks at the clocks and the time service: the station calls it once per
// timer pass, before any irreversible transition, and reports the changes.
func (t *Trust) Observe() (State, []Change) {
	ok, err := t.synced()
	t.mu.Lock()
	defer t.mu.Unlock()
	w, m := t.clk.Now().Round(0), t.clk.Mono()
	var changes []Change
	if err != nil {
		if !t.syncErr {
			changes = append(changes, Change{Kind: KindUntrusted, Reason: "time service unreadable: " + err.Error()})
		}
		t.syncErr, ok = true, false
	}
	if t.seen {
		if d := w.Sub(t.lastWall) - (m - t.lastMono); abs(d) > t.pol.JumpBound {
			r := fmt.Sprintf("wall clock stepped %s by %v", dir(d), abs(d))
			if t.anchored {
				r += "; the trusted time goes on by the monotonic clock"
			}
			changes = append(changes, Change{Kind: KindStep, By: d, Reason: r})
		}
	}
	t.seen, t.lastWall, t.lastMono = true, w, m

	if t.anchored {
		off := w.Sub(t.estimate(m))
		switch {
		case abs(off) <= t.pol.JumpBound:
			if ok {
				t.anchor(w, m, SourceSync)
				off = 0
			}
			if t.held != "" {
				changes = append(changes, Change{Kind: KindTrusted, Reason: "the wall clock agrees with the trusted time again"})
				t.held = ""
			}
		case t.held != "offset":
			t.held = "offset"
			changes = append(changes, Change{Kind: KindHeld, By: off, Reason: fmt.Sprintf(
				"wall clock %v %s the trusted time: not followed until the time service or the cloud confirms it", abs(off), aheadOf(off))})
		}
		now := t.estimate(m)
		t.raiseFloor(now, m)
		st := State{Trusted: true, Now: now, Source: t.src, Offset: off}
		if t.held != "" {
			st.Reason = fmt.Sprintf("wall clock %v %s the trusted time", abs(off), aheadOf(off))
		}
		return st, changes
	}

	lb := t.lowerBound(m)
	var kind, reason string
	switch {
	case !ok:
		kind, reason = "unsynced", "the time service has not synchronised the clock and no command from the cloud has confirmed it"
	case !lb.IsZero() && w.Before(lb.Add(-t.pol.JumpBound)):
		kind, reason = "behind", fmt.Sprintf("the clock is synchronised but %v behind the last trusted time", lb.Sub(w).Round(time.Second))
	case !lb.IsZero() && w.After(lb.Add(t.pol.GapBound)):
		kind, reason = "beyond", fmt.Sprintf("the clock is synchronised but %v beyond the last trusted time (more than %v): waiting for the cloud to confirm it",
			w.Sub(lb).Round(time.Second), t.pol.GapBound)
	default:
		t.anchor(w, m, SourceSync)
		t.held = ""
		changes = append(changes, Change{Kind: KindTrusted, Reason: "the time service has synchronised the clock"})
		return State{Trusted: true, Now: w, Source: SourceSync}, changes
	}
	if kind != t.held {
		t.held = kind
		changes = append(changes, Change{Kind: KindUntrusted, Reason: reason})
	}
	now := w
	if w.Before(lb) {
		now = lb
	}
	return State{Now: now, Reason: reason}, changes
}

// Confirm takes a verified command's issue time (the cloud's clock, signed): a wall
// clock within JumpBound of it is trusted; a time command (timeCmd) sets the trusted
// time to iat when the wall clock disagrees. A time command not newer than the floor
// is refused ErrStale and changes nothing. Every iat raises the floor.
func (t *Trust) Confirm(iat time.Time, timeCmd bool) ([]Change, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	iat = iat.Round(0)
	w, m := t.clk.Now().Round(0), t.clk.Mono()
	if timeCmd && !iat.After(t.floor) {
		return nil, ErrStale
	}
	var changes []Change
	off := w.Sub(iat)
	switch {
	case abs(off) <= t.pol.JumpBound:
		// The cloud vouches for the wall clock. A station already following it (in
		// agreement with its trusted time) keeps its source.
		if !t.anchored || t.held != "" {
			t.anchor(w, m, SourceCommand)
			t.held = ""
			changes = append(changes, Change{Kind: KindTrusted, Reason: "a verified command from the cloud confirmed the clock"})
		}
	case timeCmd:
		t.anchor(iat, m, SourceTime)
		t.held = "offset"
		changes = append(changes, Change{Kind: KindSet, By: off, Reason: fmt.Sprintf(
			"a time command from the cloud set the trusted time; the wall clock is %v %s it", abs(off), aheadOf(off))})
	case t.anchored && iat.After(t.estimate(m).Add(t.pol.JumpBound)):
		// The cloud's clock is ahead of the trusted time: the real time is at least
		// iat, so the trusted time was behind.
		by := iat.Sub(t.estimate(m))
		t.anchor(iat, m, SourceCommand)
		changes = append(changes, Change{Kind: KindSet, By: by, Reason: fmt.Sprintf(
			"a verified command was issued %v after the trusted time: the trusted time moves to its iat", by.Round(time.Second))})
	}
	t.raiseFloor(iat, m)
	return changes, nil
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func dir(d time.Duration) string {
	if d < 0 {
		return "back"
	}
	return "forward"
}

func aheadOf(d time.Duration) string {
	if d < 0 {
		return "behind"
	}
	return "ahead of"
}
