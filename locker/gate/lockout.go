package gate

import (
	"time"

	"github.com/lockerd/lockerd/locker/policy"
)

// Lockout is the stored state of one lock-out counter (legacy pickup codes, the
// station's courier logins, or one courier badge's). It is durable so that a reboot
// does not hand a guesser a fresh allowance; its owner stores it.
type Lockout struct {
	Failures    int       `json:"failures"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

// Check returns how long entry stays locked (zero: allowed), never more than the
// policy's MaxDelay: LockedUntil is wall-clock time, stored, so a clock stepped back
// after a lock-out (an NTP correction, a dead RTC battery) would otherwise lock
// everyone out for the size of the step, across restarts.
func (l *Lockout) Check(p policy.Throttle, now time.Time) time.Duration {
	if now.Before(l.LockedUntil) {
		return min(l.LockedUntil.Sub(now), p.MaxDelay)
	}
	return 0
}

// Fail counts one failure and returns the lock-out it starts (zero when none). From the
// MaxFailures-th consecutive failure on, each failure locks entry for BaseDelay doubled
// per failure beyond the limit, capped at MaxDelay.
func (l *Lockout) Fail(p policy.Throttle, now time.Time) time.Duration {
	l.Failures++
	over := l.Failures - p.MaxFailures
	if over < 0 {
		return 0
	}
	d := p.BaseDelay
	for i := 0; i < over && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	l.LockedUntil = now.Add(d)
	return d
}
