package locker

import (
	"context"
	"fmt"
	"slices"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
)

// Reconcile lays the stored state over what the door sensors say now, after a restart
// or power cut, and records the outcome of each operation that was under way:
//
//   - door open now: the operation goes on; closing the door completes it;
//   - door closed, and it was seen open: it opened and closed while we were down, so
//     the operation completes (a deposit is confirmed, a pickup done);
//   - door closed, never seen open: the outcome is unknown (the lock may have been
//     pulsed and the door opened and shut while we were down). The compartment is
//     flagged FaultUnverified, with the operation and its parcel, until someone looks
//     (Resolve), and a reconciled event with outcome unverified says so. A deposit is
//     not undone, because a parcel that went in would then sit in a compartment
//     offered to the next courier: the parcel stays reserved in it. A pickup,
//     retrieval or cancel is not completed, because a parcel still inside would be
//     lost to its recipient: the parcel stays where it was, and a pickup's code keeps
//     opening the door for a recipient who did not get it (ADR 0034). Only an
//     operator's opening, which moves no parcel, is simply undone;
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
		waybill, pid := tc.OpWaybill, tc.OpParcel // the waybill: for the deposited event if an operator finds it there
		tc.ClearOp()
		tc.Fault, tc.UnverifiedWaybill, tc.UnverifiedOp, tc.UnverifiedParcel = FaultUnverified, waybill, OpDeposit, pid
		outcome = ReconcileUnverified
	case model.TakesOut(wasOp):
		pid := tc.OpParcel
		tc.ClearOp()
		tc.Fault, tc.UnverifiedOp, tc.UnverifiedParcel = FaultUnverified, wasOp, pid
		outcome = ReconcileUnverified
	default:
		if err := t.abortOp(tc, "restart: door never seen open"); err != nil {
			return "", err
		}
		outcome = ReconcileUndone
	}
	ev := Event{Type: EvReconciled, Compartment: id, Generation: tc.Generation, Op: wasOp, Outcome: outcome,
		Reason: fmt.Sprintf("%s after restart (door seen open: %v)", wasOp, seen)}
	if outcome == ReconcileUnverified {
		ev.Parcel = tc.UnverifiedParcel // what the operator looks for
	}
	return outcome, t.emit(ev)
}

// Resolve settles a compartment marked FaultUnverified once someone has looked inside,
// and returns it to service. present says the parcel was found there:
//
//   - an unverified deposit: present confirms it (deposited); absent releases the
//     reservation (the parcel is announced again);
//   - an unverified pickup, retrieval or cancel: present keeps the parcel as it was
//     (its code opens the door again); absent completes the operation as its door's
//     closing would have (picked up, retrieved, or released to the courier).
//
// The operator is audited, with reason (see CommandReason).
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
		return fmt.Errorf("%w: compartment %d has nothing unverified", ErrState, id)
	}
	if c.Op != OpNone || c.DoorOpen {
		return fmt.Errorf("%w: compartment %d: shut its door first", ErrBusy, id)
	}
	return s.update(func(t *txn) error {
		c := t.comp(id)
		op, pid := c.UnverifiedOp, c.UnverifiedParcel
		waybill := s.openOpWaybill(c.UnverifiedWaybill)
		if len(c.UnverifiedWaybill) > 0 && waybill == nil {
			s.log.Warn("unverified deposit's waybill digest unreadable; the cloud cannot match it", "compartment", int(id))
		}
		c.ClearUnverified()
		finding := "absent"
		if present {
			finding = "present"
		}
		if err := t.emit(Event{Type: EvResolved, Compartment: id, Generation: c.Generation, Actor: operator,
			Parcel: pid, Op: op, Reason: finding + "; " + reason}); err != nil {
			return err
		}
		if model.TakesOut(op) {
			return t.resolveTakeOut(c, op, pid, present, operator)
		}
		return t.resolveDeposit(c, present, operator, waybill)
	})
}

// resolveTakeOut settles a pickup, retrieval or cancel a restart left unverified: a
// parcel found absent is taken out as the door's closing would have done; one found
// present stays as it was.
func (t *txn) resolveTakeOut(c *Compartment, op Op, pid ParcelID, present bool, operator string) error {
	if present || !slices.Contains(c.Parcels, pid) {
		return nil // still there, or settled otherwise meanwhile (a retried pickup completed)
	}
	p, err := t.parcel(pid)
	if err != nil {
		return err
	}
	if !p.State.InCompartment() {
		return nil
	}
	return t.finishOp(c, op, pid, operator, nil, "resolved: not in the compartment")
}

// resolveDeposit settles a deposit a restart left unverified: each parcel still
// reserved in c (announced) becomes deposited if present, or is released.
func (t *txn) resolveDeposit(c *Compartment, present bool, operator string, waybill *privacy.Digest) error {
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
		np.State, np.ExpiresAt = StateDeposited, t.now.Add(t.s.policy.Retention)
		if err := t.putParcel(p, &np); err != nil {
			return err
		}
		ev := Event{Type: EvDeposited, Parcel: pid, Compartment: c.ID, Generation: c.Generation,
			State: StateDeposited, Actor: operator, Reason: "resolved: found in the compartment"}
		if !p.Announced {
			ev.Waybill = waybill
		}
		if err := t.emit(ev); err != nil {
			return err
		}
	}
	return nil
}
