package expiry

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/lockerd/lockerd/locker/clock"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/store"
)

// The timers run on a time somebody vouches for (docs/adr/0058-time-without-a-clock-chip.md):
// the station's clock.Trust says when that is; what is here reports what it learnt,
// moves the deadlines set before it was trusted, and keeps its floor across restarts.

// EvClock reports what the station learnt about its time (Options.Time): Source is
// the clock.Kind (step, held, trusted, untrusted, set) or rebased (Count deadlines
// moved, Rebase), Seconds how far the wall clock stepped or is off (negative:
// back), Reason says it for people. Audited; all but trusted and untrusted (which
// every start records) are also sent as the protocol's clock event.
const EvClock model.EventType = "clock"

// metaClockFloor keeps the clock floor: the newest time the station trusted or the
// cloud vouched for, as Unix seconds.
const metaClockFloor store.Meta = "clock_floor"

// floorEvery is how often, at most, a trusted clock's floor is stored: one commit a
// day (28 KB written with 100 parcels stored, measured with /proc/self/io), and a
// stored floor at most a day old after a power cut.
const floorEvery = 24 * time.Hour

// FloorReader is what loading the floor needs of a read transaction (store.Tx).
type FloorReader interface {
	GetMeta(k store.Meta, v any) (bool, error)
	IssuedFloor() (time.Time, error)
}

// Clock is what the timers keep of the station's time between passes: when its floor
// was last stored.
type Clock struct {
	floorKept time.Time
}

// Load raises trust's floor to the stored one and to the newest command iat the
// command log noted (ADR 0055): both are times known to have passed.
func (c *Clock) Load(r FloorReader, trust *clock.Trust) error {
	var unix int64
	if ok, err := r.GetMeta(metaClockFloor, &unix); err != nil {
		return fmt.Errorf("locker: stored clock floor: %w", err)
	} else if ok {
		c.floorKept = time.Unix(unix, 0)
		trust.RaiseFloor(c.floorKept)
	}
	iat, err := r.IssuedFloor()
	if err != nil {
		return err
	}
	trust.RaiseFloor(iat)
	return nil
}

// Trusted returns the trusted time and true, or false when the irreversible timers
// must wait: it observes trust, reports what changed (Report), moves the deadlines
// set before a correction (Rebase) and stores the floor now and then.
func (c *Clock) Trusted(s Station, trust *clock.Trust, log *slog.Logger) (time.Time, bool) {
	st, changes := trust.Observe()
	Report(s, changes, log)
	if j, since := trust.TakeCorrection(); st.Trusted && j > 0 {
		if err := rebase(s, since, j, log); err != nil {
			log.Error("clock: deadlines set while the time was not trusted not all moved", "err", err)
		}
	}
	if f := trust.Floor(); st.Trusted && f.Sub(c.floorKept) >= floorEvery {
		if err := s.Update(func(t Tx) error { return t.PutMeta(metaClockFloor, f.Unix()) }); err != nil {
			log.Warn("clock floor not stored", "err", err)
		} else {
			c.floorKept = f
		}
	}
	return st.Now, st.Trusted
}

// rebase moves the deadlines set since from by (Rebase) and records how many moved.
func rebase(s Station, from time.Time, by time.Duration, log *slog.Logger) error {
	moved, err := Rebase(s, from, by)
	if err != nil {
		return err
	}
	reason := fmt.Sprintf("the trusted time is %v ahead of the clock the station ran on before: %d deadlines set meanwhile moved by as much",
		by.Round(time.Second), moved)
	log.Warn("clock: " + reason)
	return s.Update(func(t Tx) error {
		return t.Emit(model.Event{Type: EvClock, Source: "rebased", Count: moved, Seconds: int64(by / time.Second),
			Actor: model.ActorSystem, Reason: reason})
	})
}

// Report logs each change of the station's time and records it as a clock event, each
// in its own transition.
func Report(s Station, changes []clock.Change, log *slog.Logger) {
	for _, c := range changes {
		lvl := log.Warn
		if c.Kind == clock.KindTrusted {
			lvl = log.Info
		}
		lvl("clock: "+c.Reason, "kind", string(c.Kind), "by", c.By)
		if err := s.Update(func(t Tx) error {
			return t.Emit(model.Event{Type: EvClock, Source: string(c.Kind), Seconds: int64(c.By / time.Second),
				Actor: model.ActorSystem, Reason: c.Reason})
		}); err != nil {
			log.Error("clock event not recorded", "err", err)
		}
	}
}
