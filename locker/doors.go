package locker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// pulseHold holds back a door's sensed changes while an unlock of that door is under
// way, so that the unlock's outcome is recorded first (docs/adr/0053).
type pulseHold struct {
	pulses  int    // unlocks of this door under way
	changes []bool // door changes reported meanwhile, in order (open = true)
}

// opened reports whether the door was reported open while held.
func (h *pulseHold) opened() bool {
	return h != nil && slices.Contains(h.changes, true)
}

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
	h := s.pulsing[id]
	if h == nil {
		h = &pulseHold{}
		s.pulsing[id] = h
	}
	h.pulses++
	s.mu.Unlock()

	uerr := s.unlocker.Unlock(ctx, id)

	s.mu.Lock()
	defer s.mu.Unlock()
	h.pulses--
	if h.pulses == 0 {
		delete(s.pulsing, id)
		// Deferred after the unlock below: runs first, still under s.mu.
		defer func() {
			for _, open := range h.changes {
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
		return s.update(func(t *txn) error {
			c := t.comp(slot.Compartment)
			return t.emit(Event{Type: EvUnlocked, Compartment: c.ID, Generation: c.Generation, Parcel: c.OpParcel,
				Op: c.Op, Command: c.OpCommand, Actor: c.OpActor, Reason: string(c.Op) + " (not confirmed)"})
		})
	}
	if uerr != nil {
		s.log.Warn("unlock failed", "compartment", int(slot.Compartment), "err", uerr)
		err := s.update(func(t *txn) error {
			c := t.comp(slot.Compartment)
			if err := t.emit(Event{Type: EvUnlockFailed, Compartment: c.ID, Generation: c.Generation,
				Parcel: c.OpParcel, Op: c.Op, Command: c.OpCommand, Actor: c.OpActor, Reason: "driver error"}); err != nil {
				return err
			}
			if c.OpDoorSeen || h.opened() {
				return nil // it opened anyway (a previous pulse, or by hand): let it run
			}
			return t.abortOp(c, "unlock failed")
		})
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: compartment %d", ErrUnlock, slot.Compartment)
	}
	return s.update(func(t *txn) error {
		c := t.comp(slot.Compartment)
		return t.emit(Event{Type: EvUnlocked, Compartment: c.ID, Generation: c.Generation, Parcel: c.OpParcel,
			Op: c.Op, Command: c.OpCommand, Actor: c.OpActor, Reason: string(c.Op)})
	})
}

// abortOp ends an operation whose door never opened: nothing went in or came out.
func (t *txn) abortOp(c *Compartment, reason string) error {
	op, parcel := c.Op, c.OpParcel
	c.ClearOp()
	if op == OpDeposit {
		return t.releaseParcel(c, parcel, reason)
	}
	return nil
}

// sensorWait is how long an operation Reconcile left for a door sensor's first report
// waits for it: a sensor that never reports (dead, unwired) must not hold its
// compartment busy forever.
const sensorWait = 5 * time.Minute

// settleSilentSensorsLocked settles, as if their doors read closed (the operation
// becomes unverified and the parcel stays where it was), the operations whose sensor
// has not reported within sensorWait of Reconcile.
func (s *Station) settleSilentSensorsLocked(now time.Time) error {
	if len(s.unsettled) == 0 || now.Sub(s.unsettledAt) < sensorWait {
		return nil
	}
	for id := range s.unsettled {
		c := s.comps[id]
		if c == nil || !s.unsettledOp(c) {
			delete(s.unsettled, id)
			continue
		}
		if err := s.settleLocked(id, false, "door sensor never reported after restart; settled as closed"); err != nil {
			return err
		}
	}
	return nil
}

// settleLocked settles compartment id's operation left by Reconcile with the door
// state open (reconcileDoor), logs why with its outcome, and forgets it.
func (s *Station) settleLocked(id CompartmentID, open bool, why string) error {
	err := s.update(func(t *txn) error {
		outcome, err := t.reconcileDoor(id, open)
		if err == nil && outcome != "" && outcome != "continued" {
			s.log.Warn(why, "compartment", int(id), "outcome", outcome)
		}
		return err
	})
	if err == nil {
		delete(s.unsettled, id)
	}
	return err
}

// unsettledOp reports whether c's operation is one Reconcile left for the door
// sensor's first report.
func (s *Station) unsettledOp(c *Compartment) bool {
	since, ok := s.unsettled[c.ID]
	return ok && c.Op != OpNone && c.OpSince.Equal(since)
}

// DoorChanged takes a sensed door change from a driver. Repeats of the current state
// (bounces the driver let through, a duplicate close) change nothing.
// A change of a door whose unlock is under way is recorded once the unlock's outcome is
// (pulse).
func (s *Station) DoorChanged(id CompartmentID, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.pulsing[id]; h != nil {
		h.changes = append(h.changes, open)
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
	if s.unsettledOp(c) {
		// The first report of a sensor unknown at Reconcile: it settles the operation
		// under way before the restart, even when it repeats the stored state.
		if err := s.settleLocked(id, open, "reconciled with a door sensor known late"); err != nil {
			s.log.Error("door change not recorded", "compartment", int(id), "err", err)
		}
		return
	}
	delete(s.unsettled, id) // none, or settled otherwise meanwhile (resolved, cancelled)
	if c.DoorOpen == open {
		return
	}
	err := s.update(func(t *txn) error { return t.doorChanged(c.ID, open) })
	if err != nil {
		s.log.Error("door change not recorded", "compartment", int(id), "err", err)
	}
}

func (t *txn) doorChanged(id CompartmentID, open bool) error {
	c := t.comp(id)
	c.DoorOpen, c.DoorSince = open, t.now
	ev := Event{Compartment: c.ID, Generation: c.Generation, Parcel: c.OpParcel, Op: c.Op, Command: c.OpCommand, Actor: c.OpActor, Reason: string(c.Op)}
	if open {
		ev.Type = EvDoorOpened
		if err := t.emit(ev); err != nil {
			return err
		}
		if c.Op == OpNone {
			return t.emit(Event{Type: EvForced, Compartment: c.ID, Generation: c.Generation,
				Reason: "door opened without a command"})
		}
		c.OpDoorSeen = true
		return nil
	}
	c.LeftOpenSet = false
	ev.Type = EvDoorClosed
	if err := t.emit(ev); err != nil {
		return err
	}
	if c.Op == OpNone || !c.OpDoorSeen {
		return nil
	}
	return t.completeOp(c)
}

// completeOp finishes the operation at c: its door was seen open and is now closed.
func (t *txn) completeOp(c *Compartment) error {
	op, pid, actor, waybill := c.Op, c.OpParcel, c.OpActor, c.OpWaybill
	c.ClearOp()
	if op == OpPickup && c.RetryablePickup(pid) {
		c.ClearUnverified() // the recipient tried again and the door opened: settled
	}
	return t.finishOp(c, op, pid, actor, waybill, "")
}

// finishOp moves parcel pid as operation op's completion does, on behalf of actor:
// for a door that was seen open and shut (completeOp), or for an operator who found
// what a restart left unverified (Resolve).
func (t *txn) finishOp(c *Compartment, op Op, pid ParcelID, actor string, waybill []byte, reason string) error {
	switch op {
	case OpOperator:
		return nil
	case OpCancel:
		if reason == "" {
			reason = "cancelled by courier"
		}
		return t.releaseParcel(c, pid, reason)
	}
	p, err := t.parcel(pid)
	if err != nil {
		return err
	}
	np := *p
	ev := Event{Parcel: pid, Compartment: c.ID, Generation: c.Generation, Actor: actor, Reason: reason}
	switch op {
	case OpDeposit:
		np.State, np.ExpiresAt = StateDeposited, t.now.Add(t.s.policy.Retention)
		ev.Type, ev.Waybill = EvDeposited, t.s.openOpWaybill(waybill)
	case OpPickup:
		np.State, np.PurgeAt = StatePickedUp, t.now.Add(t.s.policy.PurgeAfter)
		ev.Type = EvPickedUp
	case OpRetrieve:
		np.State, np.PurgeAt = StateRetrieved, t.now.Add(t.s.policy.PurgeAfter)
		ev.Type = EvRetrieved
	default:
		return fmt.Errorf("locker: compartment %d: unknown operation %q", c.ID, op)
	}
	if np.State.Terminal() {
		c.RemoveParcel(pid)
		c.Generation++
		np.Compartment = 0
	}
	ev.State = np.State
	if err := t.putParcel(p, &np); err != nil {
		return err
	}
	return t.emit(ev)
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
	for id, se := range s.sessions {
		if now.Sub(se.lastActive) > s.policy.SessionIdle {
			delete(s.sessions, id)
		}
	}
	for id, h := range s.handovers {
		if now.After(h.until) {
			delete(s.handovers, id)
		}
	}
	for d, at := range s.recentScan {
		if now.Sub(at) >= s.policy.DuplicateScanWindow {
			delete(s.recentScan, d)
		}
	}
	if err := s.settleSilentSensorsLocked(now); err != nil {
		return err
	}
	var reoffer []Slot
	for _, id := range s.order {
		c := s.comps[id]
		switch {
		case c.Op != OpNone && !c.OpDoorSeen && !s.unsettledOp(c) && now.Sub(c.OpSince) > s.policy.DoorOpenTimeout:
			slot, err := s.jammedLocked(c)
			if err != nil {
				return err
			}
			if slot.Compartment != 0 {
				reoffer = append(reoffer, slot)
			}
		case c.DoorOpen && !c.LeftOpenSet && now.Sub(c.DoorSince) > s.policy.LeftOpenAfter:
			if err := s.update(func(t *txn) error {
				c := t.comp(id)
				c.LeftOpenSet = true
				open := now.Sub(c.DoorSince).Round(time.Second)
				return t.emit(Event{Type: EvLeftOpen, Compartment: id, Generation: c.Generation, Parcel: c.OpParcel, Op: c.Op, Command: c.OpCommand, Actor: c.OpActor,
					Seconds: int64(open / time.Second), Reason: fmt.Sprintf("open for %v", open)})
			}); err != nil {
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

// jammedLocked handles a door that did not open after its unlock: the compartment is
// marked faulted and an alarm raised; a deposit moves to the next best compartment,
// whose slot is returned for pulsing.
func (s *Station) jammedLocked(c *Compartment) (Slot, error) {
	var next Slot
	var nextSession *session
	err := s.update(func(t *txn) error {
		c := t.comp(c.ID)
		op, pid, sid, actor := c.Op, c.OpParcel, c.OpSession, c.OpActor
		if c.Fault != FaultUnverified { // an operator's look or a retried pickup jammed: it stays unverified
			c.Fault = "jammed"
		}
		if err := t.emit(Event{Type: EvJammed, Compartment: c.ID, Generation: c.Generation, Parcel: pid,
			Op: op, Command: c.OpCommand, Actor: c.OpActor, Reason: string(op)}); err != nil {
			return err
		}
		if op != OpDeposit {
			c.ClearOp()
			return nil
		}
		se, alive := s.sessions[sid]
		p, err := t.parcel(pid)
		if err != nil {
			return err
		}
		alt := s.bestFitDoor(p.Size, c.ID) // the courier is at the doors: no shelf
		if !alive || alt == nil {
			c.ClearOp()
			return t.releaseParcel(c, pid, "door jammed")
		}
		// Move the reservation: the courier is still at the locker with the parcel.
		waybill := c.OpWaybill
		c.ClearOp()
		c.RemoveParcel(pid)
		c.Generation++
		a := t.comp(alt.ID)
		a.Generation++
		a.Parcels = append(a.Parcels, pid)
		a.Op, a.OpParcel, a.OpSession, a.OpSince, a.OpActor, a.OpWaybill = OpDeposit, pid, sid, t.now, actor, waybill
		np := *p
		np.Compartment, np.Generation = a.ID, a.Generation
		if err := t.putParcel(p, &np); err != nil {
			return err
		}
		next, nextSession = slotOf(a, &np), se
		return t.emit(Event{Type: EvReserved, Parcel: pid, Compartment: a.ID, Generation: a.Generation,
			Actor: actor, Op: OpDeposit, Reason: "deposit (re-offered after a jam)"})
	})
	if err == nil && nextSession != nil {
		nextSession.offers = append(nextSession.offers, next)
	}
	return next, err
}
