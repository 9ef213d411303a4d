package locker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/lockerd/lockerd/locker/clock"
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

// rebaseLocked moves by the deadlines of the parcels written at or after from (the
// first provisional reading of this run, clock.Trust.TakeCorrection) and still
// waiting for them: the time became trusted by moving the station's clock forward by,
// and deadlines counted from its provisional readings would fall that much early. A
// record written before the time was lost whose Updated is later than from (a saved
// clock behind the last trusted time) moves too: it falls late by at most by, never
// early. Runs once per such correction, in transactions of at most maxPerTick records.
func (s *Station) rebaseLocked(from time.Time, by time.Duration) error {
	end := time.Unix(0, math.MaxInt64)
	moved := 0
	for _, timer := range []store.Timer{store.TimerExpiry, store.TimerKeep, store.TimerPurge} {
		before, err := s.store.Due(timer, from, math.MaxInt)
		if err != nil {
			return err
		}
		rows, err := s.store.Due(timer, end, math.MaxInt)
		if err != nil {
			return err
		}
		rows = rows[min(len(before), len(rows)):] // in the index's order: those after from
		for len(rows) > 0 {
			chunk := rows[:min(len(rows), maxPerTick)]
			rows = rows[len(chunk):]
			if err := s.update(func(t *txn) error {
				for _, row := range chunk {
					p, err := t.parcel(ParcelID(row.Parcel))
					if err != nil {
						continue // the timer pass deals with unreadable records
					}
					np := *p
					var at *time.Time
					switch {
					case timer == store.TimerExpiry && p.State == StateDeposited:
						at = &np.ExpiresAt
					case timer == store.TimerKeep && p.State == StateAnnounced:
						at = &np.KeepUntil
					case timer == store.TimerPurge:
						at = &np.PurgeAt
					}
					if at == nil || at.IsZero() || !at.After(from) || p.Updated.Before(from) {
						continue
					}
					*at = at.Add(by)
					if err := t.putParcel(p, &np); err != nil {
						return err
					}
					moved++
				}
				return nil
			}); err != nil {
				return err
			}
		}
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

// maxPerTick bounds the records one timer pass changes, so that a backlog (a station
// that was off for a week) is worked off in short transactions.
const maxPerTick = 256

// errNotDue says a timer step found nothing to change for a parcel its index named;
// errStaleRow that the row itself is a leftover, to be deleted.
var (
	errNotDue   = errors.New("locker: not due")
	errStaleRow = errors.New("locker: stale timer row")
)

// expireLocked moves deposited parcels past their retention to expired (their codes stop
// working), drops announcements that were never deposited, purges terminal records and
// destroys the keys of epochs that no record uses any more.
func (s *Station) expireLocked(now time.Time) error {
	now, trusted := s.trustedNowLocked(now)
	if !trusted {
		// Nothing irreversible on a time nobody vouches for: the parcels stay, their
		// codes keep working, and the timers run once the time is trusted
		// (docs/adr/0058-time-without-a-clock-chip.md).
		return nil
	}
	steps := []struct {
		timer store.Timer
		apply func(t *txn, p *Parcel) error
	}{
		{store.TimerExpiry, func(t *txn, p *Parcel) error {
			if p.State != StateDeposited {
				return errStaleRow // rows exist only for deposited parcels
			}
			np := *p
			np.State = StateExpired
			if err := t.putParcel(p, &np); err != nil {
				return err
			}
			return t.emit(Event{Type: EvExpired, Parcel: p.ID, Compartment: p.Compartment,
				Generation: p.Generation, State: StateExpired, Actor: ActorSystem})
		}},
		{store.TimerKeep, func(t *txn, p *Parcel) error {
			switch {
			case p.State != StateAnnounced:
				return errStaleRow // deposited or gone since: the row is a leftover
			case p.Compartment != 0:
				// A deposit is under way (its door decides), in a store written before
				// such parcels lost their keep-until row (Parcel.indexes).
				return errNotDue
			}
			np := *p
			np.State, np.PurgeAt = StateCancelled, t.now.Add(s.policy.PurgeAfter)
			if err := t.putParcel(p, &np); err != nil {
				return err
			}
			return t.emit(Event{Type: EvCancelled, Parcel: p.ID, State: StateCancelled, Actor: ActorSystem,
				Reason: "never deposited"})
		}},
		{store.TimerPurge, func(t *txn, p *Parcel) error { return t.putParcel(p, nil) }},
	}
	purged := 0
	for i, st := range steps {
		rows, err := s.store.Due(st.timer, now, maxPerTick)
		if err != nil || len(rows) == 0 {
			if err != nil {
				return err
			}
			continue
		}
		err = s.update(func(t *txn) error {
			applied := 0
			for _, row := range rows {
				id := ParcelID(row.Parcel)
				p, err := t.parcel(id)
				if err != nil {
					// A row naming a record that is gone or unreadable (a damaged store):
					// the row goes, the record stays for a look, and the timers go on.
					// Failing the pass would fail every pass, and the watchdog would
					// restart lockerd in a loop while nothing expires.
					s.log.Error("timer row names an unreadable parcel record; row dropped", "parcel", string(id), "err", err)
					if err := t.st.DeleteDue(st.timer, row); err != nil {
						return err
					}
					applied++
					continue
				}
				switch err := st.apply(t, p); {
				case errors.Is(err, errNotDue):
				case errors.Is(err, errStaleRow):
					if err := t.st.DeleteDue(st.timer, row); err != nil {
						return err
					}
					applied++
				case err != nil:
					return err
				default:
					applied++
				}
			}
			if applied == 0 {
				return errNotDue // nothing changed: no commit, no fsync on every tick
			}
			if i == len(steps)-1 {
				return t.emit(Event{Type: EvPurged, Count: applied, Actor: ActorSystem})
			}
			return nil
		})
		if errors.Is(err, errNotDue) {
			continue
		}
		if err != nil {
			return fmt.Errorf("locker: timers: %w", err)
		}
		if i == len(steps)-1 {
			purged = len(rows)
		}
	}
	if s.pruneDue(now) {
		// Housekeeping: a failure is logged and retried in an hour, and never keeps the
		// rest of this pass (door timers, expiry) from running.
		if err := s.pruneAuditLocked(now); err != nil {
			s.log.Error("audit retention failed; retried in an hour", "err", err)
		}
	}
	if s.store.CommandExpiryDue(now) {
		if err := s.store.ForgetCommands(now, maxPerTick); err != nil {
			return fmt.Errorf("locker: command log: %w", err)
		}
	}
	if purged > 0 || s.shredDue(now) {
		return s.shredLocked(now)
	}
	return nil
}

func (s *Station) shredDue(now time.Time) bool {
	// A past epoch whose parcels still wait keeps its key for days: look again hourly,
	// not on every timer pass (each look scans the outbox).
	if now.Sub(s.lastShred) < time.Hour {
		return false
	}
	e := s.keyring.Epochs()
	return len(e) > 0 && e[0] < s.epochOf(now)
}

// shredLocked destroys the key of every past epoch that no stored record uses: whatever
// copies of its sealed digests remain in free pages of the store become unlinkable.
func (s *Station) shredLocked(now time.Time) error {
	s.lastShred = now
	if err := s.resealCouriers(now); err != nil {
		return err
	}
	current := s.epochOf(now)
	var past []uint32
	for _, e := range s.keyring.Epochs() {
		if e < current {
			past = append(past, e)
		}
	}
	dead, err := s.store.UnusedEpochs(past)
	if err != nil {
		return err
	}
	for _, e := range dead {
		if err := s.keyring.Destroy(e); err != nil {
			return fmt.Errorf("locker: shred epoch %d: %w", e, err)
		}
		s.log.Info("epoch key destroyed", "epoch", e)
	}
	if len(dead) == 0 {
		return nil
	}
	if err := s.store.ForgetEpochs(dead); err != nil {
		return err
	}
	// The subjects' keys of those epochs go with them (ADR 0065).
	return s.collectSubjectKeys()
}

// Retrieve opens, for a courier with the retrieval right, every door holding an expired
// or recalled parcel; each door closing completes its retrieval. Shelf parcels are
// retrieved at once (staff hand them over).
func (s *Station) Retrieve(ctx context.Context, sid string) ([]Slot, error) {
	s.mu.Lock()
	se, err := s.sessionLocked(sid)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if !se.courier.Rights.Retrieve {
		s.mu.Unlock()
		return nil, ErrNoRights
	}
	var slots, pulses []Slot
	err = s.update(func(t *txn) error {
		for _, id := range s.order {
			c := s.comps[id]
			for _, pid := range c.Parcels {
				p, err := t.parcel(pid)
				if err != nil {
					return err
				}
				if p.State != StateExpired && p.State != StateRecalled {
					continue
				}
				tc := t.comp(id)
				if tc.Kind == KindShelf {
					np := *p
					np.State, np.PurgeAt, np.Compartment = StateRetrieved, t.now.Add(s.policy.PurgeAfter), 0
					tc.RemoveParcel(pid)
					tc.Generation++
					if err := t.putParcel(p, &np); err != nil {
						return err
					}
					slots = append(slots, slotOf(tc, p))
					if err := t.emit(Event{Type: EvRetrieved, Parcel: pid, Compartment: id,
						Generation: tc.Generation, Actor: se.courier.ID, State: StateRetrieved}); err != nil {
						return err
					}
					continue
				}
				if tc.Op != OpNone || tc.Fault != "" {
					continue
				}
				tc.Op, tc.OpParcel, tc.OpSince, tc.OpActor = OpRetrieve, pid, t.now, se.courier.ID
				tc.OpDoorSeen = tc.DoorOpen // already open: its closing ends the retrieval
				sl := slotOf(tc, p)
				slots, pulses = append(slots, sl), append(pulses, sl)
				if err := t.emit(Event{Type: EvReserved, Parcel: pid, Compartment: id, Generation: tc.Generation,
					Actor: se.courier.ID, Op: OpRetrieve, Reason: "retrieve"}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("locker: retrieve: %w", err)
	}
	for _, sl := range pulses {
		if err := s.pulse(ctx, sl); err != nil {
			// Not reported as opened: the pulse's failure aborted the operation, and
			// the courier must not be sent to a door that stayed shut.
			s.log.Warn("retrieval door did not unlock", "compartment", int(sl.Compartment), "err", err)
			slots = removeSlot(slots, sl.Compartment)
		}
	}
	return slots, nil
}
