package locker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/store"
)

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
	return s.store.ForgetEpochs(dead)
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
