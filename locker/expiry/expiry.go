// Package expiry is the station's irreversible timers: the passes that expire
// deposited parcels past their retention (their codes stop working), drop
// announcements never deposited, and purge terminal records (Sweep), and the move of
// the deadlines set while the station's time was not yet trusted once it is (Rebase,
// docs/adr/0058-time-without-a-clock-chip.md), with the reports of what the station
// learnt about its time and its stored floor (Clock, Report). The rows due come from
// the store's time indexes (store.Timer).
//
// It holds no state: package locker holds the lock, decides when a pass may run (only
// on a trusted time), and gives each pass its transitions (Tx), each one durable
// write of at most MaxPerTick records.
package expiry

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/policy"
	"github.com/lockerd/lockerd/locker/store"
)

// MaxPerTick bounds the records one timer pass changes, so that a backlog (a station
// that was off for a week) is worked off in short transactions.
const MaxPerTick = 256

// Tx is what a timer step needs of the station's transition: its time and policy, the
// parcel records, the events, the deletion of a time index's row, and a stored value
// (the clock's floor).
type Tx interface {
	Now() time.Time
	Policy() *policy.Policy
	Parcel(id model.ParcelID) (*model.Parcel, error)
	PutParcel(old, p *model.Parcel) error
	Emit(e model.Event) error
	DeleteDue(timer store.Timer, row store.Due) error
	PutMeta(k store.Meta, v any) error
}

// Station is what a pass needs beyond one transition: the rows of a time index due
// by a time (store.Store.Due), and a transition to change them in, which commits
// unless fn fails.
type Station interface {
	Due(timer store.Timer, until time.Time, max int) ([]store.Due, error)
	Update(fn func(t Tx) error) error
}

// errNotDue says a timer step found nothing to change for a parcel its index named;
// errStaleRow that the row itself is a leftover, to be deleted.
var (
	errNotDue   = errors.New("locker: not due")
	errStaleRow = errors.New("locker: stale timer row")
)

// A step is what one time index's due row does to its parcel.
type step struct {
	timer store.Timer
	apply func(t Tx, p *model.Parcel) error
}

var steps = []step{
	{store.TimerExpiry, expire},
	{store.TimerKeep, drop},
	{store.TimerPurge, func(t Tx, p *model.Parcel) error { return t.PutParcel(p, nil) }},
}

// expire moves a deposited parcel past its retention to expired: its codes stop working
// and a courier retrieves it.
func expire(t Tx, p *model.Parcel) error {
	if p.State != model.StateDeposited {
		return errStaleRow // rows exist only for deposited parcels
	}
	np := *p
	np.State = model.StateExpired
	if err := t.PutParcel(p, &np); err != nil {
		return err
	}
	return t.Emit(model.Event{Type: model.EvExpired, Parcel: p.ID, Compartment: p.Compartment,
		Generation: p.Generation, State: model.StateExpired, Actor: model.ActorSystem})
}

// drop cancels an announcement never deposited by its keep-until.
func drop(t Tx, p *model.Parcel) error {
	switch {
	case p.State != model.StateAnnounced:
		return errStaleRow // deposited or gone since: the row is a leftover
	case p.Compartment != 0:
		// A deposit is under way (its door decides), in a store written before
		// such parcels lost their keep-until row (Parcel.indexes).
		return errNotDue
	}
	np := *p
	np.State, np.PurgeAt = model.StateCancelled, t.Now().Add(t.Policy().PurgeAfter)
	if err := t.PutParcel(p, &np); err != nil {
		return err
	}
	return t.Emit(model.Event{Type: model.EvCancelled, Parcel: p.ID, State: model.StateCancelled, Actor: model.ActorSystem,
		Reason: "never deposited"})
}

// Sweep runs each timer step on at most MaxPerTick rows due by now, one transition
// per step that changes something (a pass with nothing due writes nothing), and
// returns how many purge rows were due: records whose epochs may now be unused.
func Sweep(s Station, now time.Time, log *slog.Logger) (purged int, err error) {
	for i, st := range steps {
		rows, err := s.Due(st.timer, now, MaxPerTick)
		if err != nil {
			return 0, err
		}
		if len(rows) == 0 {
			continue
		}
		last := i == len(steps)-1
		err = s.Update(func(t Tx) error { return apply(t, st, rows, last, log) })
		if errors.Is(err, errNotDue) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("locker: timers: %w", err)
		}
		if last {
			purged = len(rows)
		}
	}
	return purged, nil
}

// apply runs st on rows in t; purge says st is the purge step, whose run is counted
// in a purged event.
func apply(t Tx, st step, rows []store.Due, purge bool, log *slog.Logger) error {
	applied := 0
	for _, row := range rows {
		id := model.ParcelID(row.Parcel)
		p, err := t.Parcel(id)
		if err != nil {
			// A row naming a record that is gone or unreadable (a damaged store):
			// the row goes, the record stays for a look, and the timers go on.
			// Failing the pass would fail every pass, and the watchdog would
			// restart lockerd in a loop while nothing expires.
			log.Error("timer row names an unreadable parcel record; row dropped", "parcel", string(id), "err", err)
			if err := t.DeleteDue(st.timer, row); err != nil {
				return err
			}
			applied++
			continue
		}
		switch err := st.apply(t, p); {
		case errors.Is(err, errNotDue):
		case errors.Is(err, errStaleRow):
			if err := t.DeleteDue(st.timer, row); err != nil {
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
	if purge {
		return t.Emit(model.Event{Type: model.EvPurged, Count: applied, Actor: model.ActorSystem})
	}
	return nil
}
