package locker

import (
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/clock"
	"github.com/lockerd/lockerd/locker/expiry"
	"github.com/lockerd/lockerd/locker/store"
)

// EvClock reports what the station learnt about its time (Options.Time): Source is
// the clock.Kind (step, held, trusted, untrusted, set) or rebased (Count deadlines
// moved, rebaseLocked), Seconds how far the wall clock stepped or is off (negative:
// back), Reason says it for people. Audited; all but trusted and untrusted (which
// every start records) are also sent as the protocol's clock event.
const EvClock EventType = "clock"

// metaClockFloor keeps the clock floor: the newest time the station trusted or the
// cloud vouched for, as Unix seconds (docs/adr/0058-time-without-a-clock-chip.md).
const metaClockFloor store.Meta = "clock_floor"

// floorEvery is how often, at most, a trusted clock's floor is stored: one commit a
// day (28 KB written with 100 parcels stored, measured with /proc/self/io), and a
// stored floor at most a day old after a power cut.
const floorEvery = 24 * time.Hour

// loadClockFloor raises the station's clock floor to the stored one and to the newest
// command iat the command log noted (ADR 0055): both are times known to have passed.
func (s *Station) loadClockFloor() error {
	if s.trust == nil {
		return nil
	}
	return s.store.View(func(t store.Tx) error {
		var unix int64
		if ok, err := t.GetMeta(metaClockFloor, &unix); err != nil {
			return fmt.Errorf("locker: stored clock floor: %w", err)
		} else if ok {
			s.floorKept = time.Unix(unix, 0)
			s.trust.RaiseFloor(s.floorKept)
		}
		iat, err := t.IssuedFloor()
		if err != nil {
			return err
		}
		s.trust.RaiseFloor(iat)
		return nil
	})
}

// trustedNowLocked returns the trusted time and true, or false when the irreversible
// timers must wait: it observes the station's clock.Trust, reports what changed (a log
// line and an audited clock event each) and stores the floor now and then. Without a
// Trust the station's clock is trusted.
func (s *Station) trustedNowLocked(now time.Time) (time.Time, bool) {
	if s.trust == nil {
		return now, true
	}
	st, changes := s.trust.Observe()
	s.reportClockLocked(changes)
	if j, since := s.trust.TakeCorrection(); st.Trusted && j > 0 {
		if err := s.rebaseLocked(since, j); err != nil {
			s.log.Error("clock: deadlines set while the time was not trusted not all moved", "err", err)
		}
	}
	if f := s.trust.Floor(); st.Trusted && f.Sub(s.floorKept) >= floorEvery {
		if err := s.update(func(t *txn) error { return t.st.PutMeta(metaClockFloor, f.Unix()) }); err != nil {
			s.log.Warn("clock floor not stored", "err", err)
		} else {
			s.floorKept = f
		}
	}
	return st.Now, st.Trusted
}

// rebaseLocked moves by the deadlines set since from while the time was not trusted
// (expiry.Rebase) and records how many moved.
func (s *Station) rebaseLocked(from time.Time, by time.Duration) error {
	moved, err := expiry.Rebase(timers{s}, from, by)
	if err != nil {
		return err
	}
	reason := fmt.Sprintf("the trusted time is %v ahead of the clock the station ran on before: %d deadlines set meanwhile moved by as much",
		by.Round(time.Second), moved)
	s.log.Warn("clock: " + reason)
	return s.update(func(t *txn) error {
		return t.emit(Event{Type: EvClock, Source: "rebased", Count: moved, Seconds: int64(by / time.Second),
			Actor: ActorSystem, Reason: reason})
	})
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
	s.reportClockLocked(changes)
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
		s.reportClockLocked(changes)
	}
	return st
}

func (s *Station) reportClockLocked(changes []clock.Change) {
	for _, c := range changes {
		lvl := s.log.Warn
		if c.Kind == clock.KindTrusted {
			lvl = s.log.Info
		}
		lvl("clock: "+c.Reason, "kind", string(c.Kind), "by", c.By)
		if err := s.update(func(t *txn) error {
			return t.emit(Event{Type: EvClock, Source: string(c.Kind), Seconds: int64(c.By / time.Second),
				Actor: ActorSystem, Reason: c.Reason})
		}); err != nil {
			s.log.Error("clock event not recorded", "err", err)
		}
	}
}
