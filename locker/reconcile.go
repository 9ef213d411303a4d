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
//   - door closed, never seen open: nothing went in or out; the operation is undone
//     (a reserved parcel goes back to waiting, a code keeps working);
//   - sensor not known yet: left as stored; the driver's first report decides.
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
				continue
			}
			tc := t.comp(id)
			wasOp, seen := tc.Op, tc.OpDoorSeen
			if open != tc.DoorOpen {
				tc.DoorOpen, tc.DoorSince, tc.LeftOpenSet = open, t.now, false
			}
			switch {
			case wasOp == OpNone:
				continue
			case open:
				tc.OpDoorSeen = true
				outcomes["continued"]++
				continue
			case seen:
				if err := t.completeOp(tc); err != nil {
					return err
				}
				outcomes["completed"]++
			default:
				if err := t.abortOp(tc, "restart: door never opened"); err != nil {
					return err
				}
				outcomes["undone"]++
			}
			if err := t.emit(Event{Type: EvReconciled, Compartment: id, Generation: tc.Generation,
				Reason: fmt.Sprintf("%s after restart (door seen open: %v)", wasOp, seen)}); err != nil {
				return err
			}
		}
		return t.emit(Event{Type: EvStarted, Actor: ActorSystem})
	})
	if err != nil {
		return fmt.Errorf("locker: reconcile: %w", err)
	}
	s.log.Info("reconciled with door sensors", "completed", outcomes["completed"],
		"undone", outcomes["undone"], "continued", outcomes["continued"])
	return nil
}
