package locker

import (
	"context"
	"fmt"
)

// Reconcile lays the stored state over what the door sensors say now, after a restart
// or power cut, and records the outcome of each operation that was under way:
//
//   - door open now: the operation goes on; closing the door completes it;
//   - door closed, and it was seen open: it opened and closed while we were down, so
//     the operation completes (a deposit is confirmed, a pickup done);
//   - door closed, never seen open: the outcome is unknown (the lock may have been
//     pulsed and the door opened and shut while we were down). A pickup or retrieval is
//     undone: the parcel stays, its code keeps working, and an empty door is the worst
//     that follows. A deposit is not undone, because a parcel that went in would then
//     sit in a compartment offered to the next courier: the compartment is taken out of
//     service as FaultUnverified with the parcel still reserved in it, until someone
//     looks (Resolve);
//   - sensor not known yet: left as stored, and out of the jam timer's reach, until
//     the driver's first report, which settles it by these rules (DoorChanged).
//
// An unlock is never repeated here: a person is no longer waiting at the door.
func (s *Station) Reconcile(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	outcomes := map[string]int{}
	err := s.update(func(t *txn) error {
		for _, id := range s.order {
			c := s.comps[id]
			if c.Kind != KindDoor {
				continue
			}
			open, known := s.doors.DoorOpen(id)
			if !known {
				if c.Op != OpNone {
					s.unsettled[id] = c.OpSince // settled by the sensor's first report (DoorChanged)
					s.unsettledAt = s.clock.Now()
					outcomes["unsettled"]++
				}
				continue
			}
			outcome, err := t.reconcileDoor(id, open)
			if err != nil {
				return err
			}
			if outcome != "" {
				outcomes[outcome]++
			}
		}
		return t.emit(Event{Type: EvStarted, Actor: ActorSystem})
	})
	if err != nil {
		return fmt.Errorf("locker: reconcile: %w", err)
	}
	s.log.Info("reconciled with door sensors", "completed", outcomes[ReconcileCompleted],
		"undone", outcomes[ReconcileUndone], "continued", outcomes["continued"], "unverified", outcomes[ReconcileUnverified],
		"awaiting_sensor", outcomes["unsettled"])
	return nil
}

// reconcileDoor settles compartment id's stored operation against the sensed door
// state open (see Reconcile) and returns the outcome ("" when there was none).
func (t *txn) reconcileDoor(id CompartmentID, open bool) (string, error) {
	tc := t.comp(id)
	wasOp, seen := tc.Op, tc.OpDoorSeen
	if open != tc.DoorOpen {
		tc.DoorOpen, tc.DoorSince, tc.LeftOpenSet = open, t.now, false
	}
	var outcome string
	switch {
	case wasOp == OpNone:
		return "", nil
	case open:
		tc.OpDoorSeen = true
		return "continued", nil
	case seen:
		if err := t.completeOp(tc); err != nil {
			return "", err
		}
		outcome = ReconcileCompleted
	case wasOp == OpDeposit:
		waybill := tc.OpWaybill // for the deposited event if an operator finds it there
		tc.clearOp()
		tc.Fault, tc.UnverifiedWaybill = FaultUnverified, waybill
		outcome = ReconcileUnverified
	default:
		if err := t.abortOp(tc, "restart: door never seen open"); err != nil {
			return "", err
		}
		outcome = ReconcileUndone
	}
	return outcome, t.emit(Event{Type: EvReconciled, Compartment: id, Generation: tc.Generation, Op: wasOp, Outcome: outcome,
		Reason: fmt.Sprintf("%s after restart (door seen open: %v)", wasOp, seen)})
}

// FaultUnverified marks a compartment whose deposit outcome was unknown after a restart.
const FaultUnverified = "unverified"

// EvResolved records an operator's resolution of an unverified compartment: Actor is the
// operator, Reason says present or absent (and the cloud command, if one asked).
const EvResolved EventType = "resolved"

// Resolve settles a compartment marked FaultUnverified once someone has looked inside:
// present confirms the deposit of the parcel reserved there; otherwise the reservation
// is released. The compartment returns to service. The operator is audited, with
// reason (see CommandReason).
func (s *Station) Resolve(ctx context.Context, id CompartmentID, present bool, operator, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	c := s.comps[id]
	if c == nil {
		return ErrUnknownCompartment
	}
	if c.Fault != FaultUnverified {
		return fmt.Errorf("%w: compartment %d has no unverified deposit", ErrState, id)
	}
	if c.Op != OpNone || c.DoorOpen {
		return fmt.Errorf("%w: compartment %d: shut its door first", ErrBusy, id)
	}
	return s.update(func(t *txn) error {
		c := t.comp(id)
		waybill := s.openOpWaybill(c.UnverifiedWaybill)
		if len(c.UnverifiedWaybill) > 0 && waybill == nil {
			s.log.Warn("unverified deposit's waybill digest unreadable; the cloud cannot match it", "compartment", int(id))
		}
		c.Fault, c.UnverifiedWaybill = "", nil
		finding := "absent"
		if present {
			finding = "present"
		}
		if err := t.emit(Event{Type: EvResolved, Compartment: id, Generation: c.Generation, Actor: operator,
			Reason: finding + "; " + reason}); err != nil {
			return err
		}
		for _, pid := range append([]ParcelID(nil), c.Parcels...) {
			p, err := t.parcel(pid)
			if err != nil {
				return err
			}
			if p.State != StateAnnounced {
				continue // parcels confirmed earlier stay
			}
			if !present {
				if err := t.releaseParcel(c, pid, "resolved: not in the compartment"); err != nil {
					return err
				}
				continue
			}
			np := *p
			np.State, np.ExpiresAt = StateDeposited, t.now.Add(s.policy.Retention)
			if err := t.putParcel(p, &np); err != nil {
				return err
			}
			ev := Event{Type: EvDeposited, Parcel: pid, Compartment: id, Generation: c.Generation,
				State: StateDeposited, Actor: operator, Reason: "resolved: found in the compartment"}
			if !p.Announced {
				ev.Waybill = waybill
			}
			if err := t.emit(ev); err != nil {
				return err
			}
		}
		return nil
	})
}
