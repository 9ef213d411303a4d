package locker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/door"
)

// pulse unlocks the slot's door (shelves have none) and records the fact that the relay
// was pulsed, or undoes the operation when the driver could not pulse it. A pulse the
// driver sent but could not confirm counts as pulsed (ErrUnlockUnconfirmed).
//
// A door change the driver reports while Unlock runs (a board that confirms an unlock by
// a status read reports the opened latch in that same read) is held and recorded right
// after the unlock's outcome, so that for one door unlocked or unlock_failed always gets
// a lower seq than the door_opened it caused (docs/adr/0053).
func (s *Station) pulse(ctx context.Context, slot Slot) error {
	if slot.Kind == KindShelf {
		return nil
	}
	id := slot.Compartment
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	h := s.pulsing.Begin(id)
	s.mu.Unlock()

	uerr := s.unlocker.Unlock(ctx, id)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pulsing.End(id, h) {
		// Deferred after the unlock below: runs first, still under s.mu.
		defer func() {
			for _, open := range h.Changes() {
				s.doorChangedLocked(id, open)
			}
		}()
	}
	if s.closed {
		return ErrClosed
	}
	c := s.comps[id]
	if c == nil || c.Generation != slot.Generation || c.Op == OpNone {
		return uerr // the operation already ended (door seen and closed, or timed out)
	}
	if errors.Is(uerr, ErrUnlockUnconfirmed) {
		// The pulse may have gone out: undoing the operation would record a door as
		// untouched that a person may be opening. The operation stays; the sensor
		// settles it, or the door-open timeout reports it jammed.
		s.log.Warn("unlock not confirmed; waiting for the door", "compartment", int(slot.Compartment), "err", uerr)
		return s.update(func(t *txn) error { return door.Unlocked(t, t.comp(slot.Compartment), false) })
	}
	if uerr != nil {
		s.log.Warn("unlock failed", "compartment", int(slot.Compartment), "err", uerr)
		err := s.update(func(t *txn) error { return door.UnlockFailed(t, t.comp(slot.Compartment), h.Opened()) })
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: compartment %d", ErrUnlock, slot.Compartment)
	}
	return s.update(func(t *txn) error { return door.Unlocked(t, t.comp(slot.Compartment), true) })
}

// sensorWait is how long an operation Reconcile left for a door sensor's first report
// waits for it: a sensor that never reports (dead, unwired) must not hold its
// compartment busy forever.
const sensorWait = 5 * time.Minute

// settleSilentSensorsLocked settles, as if their doors read closed (the operation
// becomes unverified and the parcel stays where it was), the operations whose sensor
// has not reported within sensorWait of Reconcile.
func (s *Station) settleSilentSensorsLocked(now time.Time) error {
	for _, id := range s.unsettled.Overdue(now, sensorWait) {
		c := s.comps[id]
		if c == nil || !s.unsettled.Is(c) {
			s.unsettled.Done(id)
			continue
		}
		if err := s.settleLocked(id, false, "door sensor never reported after restart; settled as closed"); err != nil {
			return err
		}
	}
	return nil
}

// settleLocked settles compartment id's operation left by Reconcile with the door
// state open (door.Reconcile), logs why with its outcome, and forgets it.
func (s *Station) settleLocked(id CompartmentID, open bool, why string) error {
	err := s.update(func(t *txn) error {
		outcome, err := door.Reconcile(t, t.comp(id), open)
		if err == nil && outcome != door.None && outcome != door.Continued {
			s.log.Warn(why, "compartment", int(id), "outcome", outcome)
		}
		return err
	})
	if err == nil {
		s.unsettled.Done(id)
	}
	return err
}

// DoorChanged takes a sensed door change from a driver. Repeats of the current state
// (bounces the driver let through, a duplicate close) change nothing.
// A change of a door whose unlock is under way is recorded once the unlock's outcome is
// (pulse).
func (s *Station) DoorChanged(id CompartmentID, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pulsing.Held(id, open) {
		return
	}
	s.doorChangedLocked(id, open)
}

// doorChangedLocked records a sensed door change; s.mu is held.
func (s *Station) doorChangedLocked(id CompartmentID, open bool) {
	if s.closed {
		return
	}
	c := s.comps[id]
	if c == nil || c.Kind != KindDoor {
		return
	}
	if s.unsettled.Is(c) {
		// The first report of a sensor unknown at Reconcile: it settles the operation
		// under way before the restart, even when it repeats the stored state.
		if err := s.settleLocked(id, open, "reconciled with a door sensor known late"); err != nil {
			s.log.Error("door change not recorded", "compartment", int(id), "err", err)
		}
		return
	}
	s.unsettled.Done(id) // none, or settled otherwise meanwhile (resolved, cancelled)
	if c.DoorOpen == open {
		return
	}
	err := s.update(func(t *txn) error { return door.Changed(t, t.comp(c.ID), open) })
	if err != nil {
		s.log.Error("door change not recorded", "compartment", int(id), "err", err)
	}
}

// Tick runs the station's timers once: jammed doors, doors left open, idle sessions,
// lapsed handovers, expiry and purges. Run calls it periodically; tests call it after
// moving a fake clock.
func (s *Station) Tick() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	now := s.clock.Now()
	s.sessions.Expire(now, s.policy.SessionIdle)
	s.handovers.Expire(now)
	s.recentScan.Expire(now, s.policy.DuplicateScanWindow)
	if err := s.settleSilentSensorsLocked(now); err != nil {
		return err
	}
	var reoffer []Slot
	for _, id := range s.order {
		c := s.comps[id]
		switch {
		case c.Op != OpNone && !c.OpDoorSeen && !s.unsettled.Is(c) && now.Sub(c.OpSince) > s.policy.DoorOpenTimeout:
			slot, err := s.jammedLocked(c)
			if err != nil {
				return err
			}
			if slot.Compartment != 0 {
				reoffer = append(reoffer, slot)
			}
		case c.DoorOpen && !c.LeftOpenSet && now.Sub(c.DoorSince) > s.policy.LeftOpenAfter:
			if err := s.update(func(t *txn) error { return door.LeftOpen(t, t.comp(id), now) }); err != nil {
				return err
			}
		}
	}
	if err := s.expireLocked(now); err != nil {
		return err
	}
	if len(reoffer) > 0 {
		// Pulse outside the lock, as every unlock does; the reservation is already durable.
		s.mu.Unlock()
		for _, sl := range reoffer {
			if err := s.pulse(context.Background(), sl); err != nil {
				s.log.Warn("re-offered door did not unlock", "compartment", int(sl.Compartment), "err", err)
			}
		}
		s.mu.Lock()
	}
	return nil
}

// jammedLocked handles a door that did not open after its unlock (door.Jam): a
// deposit moves to the next best door while its courier's session lasts, and that
// door's slot is returned for pulsing.
func (s *Station) jammedLocked(c *Compartment) (Slot, error) {
	var next Slot
	se, alive := s.sessions[c.OpSession]
	err := s.update(func(t *txn) error {
		var err error
		next, err = door.Jam(t, t.comp(c.ID), func(size Size) *Compartment {
			if !alive {
				return nil
			}
			return s.bestFitDoor(size, c.ID) // the courier is at the doors: no shelf
		})
		return err
	})
	if err == nil && next.Compartment != 0 {
		se.Offer(next)
	}
	return next, err
}
