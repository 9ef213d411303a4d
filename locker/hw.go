package locker

import (
	"context"
	"time"
)

// Unlocker releases the lock of a compartment for one bounded pulse. Unlock returns when
// the pulse has been issued (relay driven, or the unlock frame acknowledged on the bus);
// it says nothing about whether the door opened: the door sensor tells that. Drivers
// enforce their own ceiling on the pulse length.
type Unlocker interface {
	Unlock(ctx context.Context, id CompartmentID) error
}

// DoorReader reports a door's current sensed state. known is false when the driver has no
// reading yet (bus down, first poll pending); the Station then leaves stored operations
// alone until the driver reports a change.
type DoorReader interface {
	DoorOpen(id CompartmentID) (open, known bool)
}

// Clock is the Station's source of time; tests inject a fake one.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the wall clock.
var SystemClock Clock = systemClock{}
