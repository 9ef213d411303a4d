// Package clock decides when the station may trust its time
// (docs/adr/0058-time-without-a-clock-chip.md). A locker runs on a board with no
// battery-backed clock: it boots with the time fake-hwclock saved, or 1970, and the
// time is right only once NTP has synchronised it or the cloud has vouched for it.
// Pickups need no time; the transitions that cannot be undone (a deposited parcel
// expired, an announcement cancelled, a record purged, the command log and the audit
// log pruned, an epoch key destroyed) wait until the time is trusted.
//
// Trust keeps an anchor: a wall time it trusted and the monotonic reading when it did.
// The trusted time is the anchor advanced by the monotonic clock, so a wall clock
// stepped afterwards moves nothing the station does; a step larger than the policy's
// bound is reported. Without an anchor the station's clock reads no earlier than the
// floor (the last trusted time, kept in the store) advanced by the monotonic clock.
package clock

import (
	"sync"
	"time"
)

// Clock reads the wall clock and a monotonic clock (an elapsed time from an arbitrary
// origin, never stepped).
type Clock interface {
	Now() time.Time
	Mono() time.Duration
}

// System is the machine's clocks: time.Now, and Go's monotonic reading of it.
type System struct{ base time.Time }

// NewSystem returns the machine's clocks, the monotonic one counted from now.
func NewSystem() *System { return &System{base: time.Now()} }

// Now reads the wall clock, without its monotonic reading.
func (s *System) Now() time.Time { return time.Now().Round(0) }

// Mono reads the monotonic clock.
func (s *System) Mono() time.Duration { return time.Since(s.base) }

// Fake is a Clock for tests: Advance moves both clocks, as time passing does; Step and
// Set move the wall clock only, as settimeofday, fake-hwclock or NTP stepping it does.
type Fake struct {
	mu   sync.Mutex
	wall time.Time
	mono time.Duration
}

// NewFake returns a fake clock reading wall, its monotonic clock at zero (a boot).
func NewFake(wall time.Time) *Fake { return &Fake{wall: wall} }

// Now reads the fake wall clock.
func (f *Fake) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.wall }

// Mono reads the fake monotonic clock.
func (f *Fake) Mono() time.Duration { f.mu.Lock(); defer f.mu.Unlock(); return f.mono }

// Advance lets d pass.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wall, f.mono = f.wall.Add(d), f.mono+d
}

// Step moves the wall clock by d (negative: back), the monotonic clock staying.
func (f *Fake) Step(d time.Duration) { f.mu.Lock(); defer f.mu.Unlock(); f.wall = f.wall.Add(d) }

// Set sets the wall clock, the monotonic clock staying.
func (f *Fake) Set(t time.Time) { f.mu.Lock(); defer f.mu.Unlock(); f.wall = t }

// AfterFunc lets d pass and runs fn, as if the caller had waited (the station's code
// gate uses it in tests).
func (f *Fake) AfterFunc(d time.Duration, fn func()) func() bool {
	f.Advance(d)
	go fn()
	return func() bool { return false }
}
