package session

import (
	"time"

	"github.com/lockerd/lockerd/locker/model"
)

// Unsettled are the operations a restart could not settle because their door sensor
// was not known yet (the Station's Reconcile): the sensor's first report settles each,
// and the jam timer leaves them alone until then. The zero value holds none.
type Unsettled struct {
	ops map[model.CompartmentID]time.Time // the operation's OpSince
	at  time.Time                         // when the restart left them
}

// Leave records compartment id's operation, under way since since, as left at now
// for its sensor's first report.
func (u *Unsettled) Leave(id model.CompartmentID, since, now time.Time) {
	if u.ops == nil {
		u.ops = map[model.CompartmentID]time.Time{}
	}
	u.ops[id], u.at = since, now
}

// Is reports whether c's operation is one left for its sensor's first report.
func (u *Unsettled) Is(c *model.Compartment) bool {
	since, ok := u.ops[c.ID]
	return ok && c.Op != model.OpNone && c.OpSince.Equal(since)
}

// Done forgets compartment id's operation: settled, or settled otherwise meanwhile.
func (u *Unsettled) Done(id model.CompartmentID) { delete(u.ops, id) }

// Overdue returns the compartments still left once wait has passed since the restart
// left them (none before): a sensor that never reports must not hold its compartment
// busy for ever.
func (u *Unsettled) Overdue(now time.Time, wait time.Duration) []model.CompartmentID {
	if len(u.ops) == 0 || now.Sub(u.at) < wait {
		return nil
	}
	ids := make([]model.CompartmentID, 0, len(u.ops))
	for id := range u.ops {
		ids = append(ids, id)
	}
	return ids
}
