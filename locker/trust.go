package locker

import (
	"time"

	"github.com/lockerd/lockerd/locker/clock"
	"github.com/lockerd/lockerd/locker/expiry"
	"github.com/lockerd/lockerd/locker/store"
)

// EvClock reports what the station learnt about its time (expiry.EvClock).
const EvClock = expiry.EvClock

// loadClockFloor raises the station's clock floor to the stored one and to the newest
// command iat the command log noted (expiry.Clock.Load).
func (s *Station) loadClockFloor() error {
	if s.trust == nil {
		return nil
	}
	return s.store.View(func(t store.Tx) error { return s.timeKept.Load(t, s.trust) })
}

// trustedNowLocked returns the trusted time and true, or false when the irreversible
// timers must wait (expiry.Clock.Trusted). Without a Trust the station's clock is
// trusted.
func (s *Station) trustedNowLocked(now time.Time) (time.Time, bool) {
	if s.trust == nil {
		return now, true
	}
	return s.timeKept.Trusted(timers{s}, s.trust, s.log)
}

// ConfirmTime takes the issue time of a verified command (the cloud's signed clock):
// see clock.Trust.Confirm. timeCmd marks the time command, which sets the trusted time
// when the wall clock disagrees; one not newer than the floor is refused
// clock.ErrStale. Without Options.Time it does nothing.
func (s *Station) ConfirmTime(iat time.Time, timeCmd bool) error {
	if s.trust == nil {
		return nil
	}
	changes, err := s.trust.Confirm(iat, timeCmd)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	expiry.Report(timers{s}, changes, s.log)
	return nil
}

// Now reads the station's clock: with Options.Time the trusted time, or the wall
// clock never earlier than the floor. The cloud link checks commands' exp and iat by it,
// so a wall clock stepped ahead does not refuse the cloud's commands as expired.
func (s *Station) Now() time.Time { return s.clock.Now() }

// TimeState observes the station's time, as the next timer pass will, without acting
// on it (status reports, tests). Without Options.Time the wall clock is trusted.
func (s *Station) TimeState() clock.State {
	if s.trust == nil {
		return clock.State{Trusted: true, Now: s.clock.Now(), Source: clock.SourceSync}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, changes := s.trust.Observe()
	if !s.closed {
		expiry.Report(timers{s}, changes, s.log)
	}
	return st
}
