package gate

import (
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/model"
)

// The events the gate's counters raise; the Station records each in the transition
// that counts the failure.

// Throttled is the event of a lock-out of source (model.ThrottleCode, ...) starting for
// d after failures; reason says it for people, actor names the courier whose badge
// alone is locked.
func Throttled(source, actor string, failures int, d time.Duration, reason string) model.Event {
	return model.Event{Type: model.EvThrottled, Count: failures, Source: source, Actor: actor,
		Seconds: int64(d.Round(time.Second) / time.Second), Reason: reason}
}

// Guessing is the guessing alarm's event: n failures of source within AlarmWindow,
// more than limit; what names them in its reason ("code entries", "QR scans").
func Guessing(source, what string, n, limit int) model.Event {
	return model.Event{Type: model.EvGuessing, Source: source, Count: n, Seconds: int64(AlarmWindow / time.Second),
		Actor: model.ActorSystem, Reason: fmt.Sprintf("more than %d failed %s in an hour", limit, what)}
}
