package locker

import (
	"context"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/door"
	"github.com/lockerd/lockerd/locker/expiry"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/store"
)

// maxPerTick bounds the records one timer pass changes (expiry.MaxPerTick).
const maxPerTick = expiry.MaxPerTick

// timers is the station as locker/expiry's passes see it. Callers hold s.mu.
type timers struct{ s *Station }

func (tm timers) Due(timer store.Timer, until time.Time, max int) ([]store.Due, error) {
	return tm.s.store.Due(timer, until, max)
}

func (tm timers) Update(fn func(t expiry.Tx) error) error {
	return tm.s.update(func(t *txn) error { return fn(t) })
}

// DeleteDue deletes a time index's row, for expiry.Tx.
func (t *txn) DeleteDue(timer store.Timer, row store.Due) error { return t.st.DeleteDue(timer, row) }

// PutMeta stores a value of the station's, for expiry.Tx (the clock's floor).
func (t *txn) PutMeta(k store.Meta, v any) error { return t.st.PutMeta(k, v) }

// expireLocked moves deposited parcels past their retention to expired (their codes stop
// working), drops announcements that were never deposited, purges terminal records
// (expiry.Sweep) and destroys the keys of epochs that no record uses any more.
func (s *Station) expireLocked(now time.Time) error {
	now, trusted := s.trustedNowLocked(now)
	if !trusted {
		// Nothing irreversible on a time nobody vouches for: the parcels stay, their
		// codes keep working, and the timers run once the time is trusted
		// (docs/adr/0058-time-without-a-clock-chip.md).
		return nil
	}
	purged, err := expiry.Sweep(timers{s}, now, s.log)
	if err != nil {
		return err
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
	if !se.Courier.Rights.Retrieve {
		s.mu.Unlock()
		return nil, ErrNoRights
	}
	var slots, pulses []Slot
	err = s.update(func(t *txn) error {
		for _, id := range s.order {
			for _, pid := range s.comps[id].Parcels {
				p, err := t.parcel(pid)
				if err != nil {
					return err
				}
				if p.State != StateExpired && p.State != StateRecalled {
					continue
				}
				sl, claim, err := door.Retrieve(t, t.comp(id), p, se.Courier.ID)
				switch {
				case err != nil:
					return err
				case claim == door.Shelved:
					slots = append(slots, sl)
				case claim == door.Reserved:
					slots, pulses = append(slots, sl), append(pulses, sl)
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
			slots = model.RemoveSlot(slots, sl.Compartment)
		}
	}
	return slots, nil
}
