package locker

import (
	"context"
	"fmt"

	"github.com/lockerd/lockerd/locker/door"
)

// Reconcile lays the stored state over what the door sensors say now, after a restart
// or power cut, and records the outcome of each operation that was under way by
// door.Reconcile's rules: an open door's operation goes on, one seen open and now shut
// completes, one never seen open is flagged FaultUnverified until someone looks
// (Resolve), unless it was an operator's opening, which is undone. An operation whose
// door sensor is not known yet is left as stored, out of the jam timer's reach, until
// the driver's first report settles it by the same rules (DoorChanged).
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
					s.unsettled.Leave(id, c.OpSince, s.clock.Now()) // settled by the sensor's first report (DoorChanged)
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
// and returns it to service: present says the parcel was found there (door.Resolve
// says what each finding does to each kind of operation). The operator is audited,
// with reason (see CommandReason).
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
