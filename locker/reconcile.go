package locker

import (
	"context"
	"fmt"

	"github.com/lockerd/lockerd/locker/door"
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
			outcome, err := door.Reconcile(t, t.comp(id), open)
			if err != nil {
				return err
			}
			if outcome != door.None {
				outcomes[outcome]++
			}
		}
		return t.emit(Event{Type: EvStarted, Actor: ActorSystem})
	})
	if err != nil {
		return fmt.Errorf("locker: reconcile: %w", err)
	}
	s.log.Info("reconciled with door sensors", "completed", outcomes[ReconcileCompleted],
		"undone", outcomes[ReconcileUndone], "continued", outcomes[door.Continued], "unverified", outcomes[ReconcileUnverified],
		"awaiting_sensor", outcomes["unsettled"])
	return nil
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
	if len(c.UnverifiedWaybill) > 0 && s.openOpWaybill(c.UnverifiedWaybill) == nil {
		s.log.Warn("unverified deposit's waybill digest unreadable; the cloud cannot match it", "compartment", int(id))
	}
	return s.update(func(t *txn) error { return door.Resolve(t, t.comp(id), present, operator, reason) })
}
