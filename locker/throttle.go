package locker

import "time"

// throttle is the stored state of one failure counter (pickup codes, or courier logins).
// It is durable so that a reboot does not hand a guesser a fresh allowance.
type throttle struct {
	Failures    int       `json:"failures"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

// check returns how long entry stays locked (zero: allowed), never more than the
// policy's MaxDelay: LockedUntil is wall-clock time, stored, so a clock stepped back
// after a lock-out (an NTP correction, a dead RTC battery) would otherwise lock
// everyone out for the size of the step, across restarts.
func (t *throttle) check(p ThrottlePolicy, now time.Time) time.Duration {
	if now.Before(t.LockedUntil) {
		return min(t.LockedUntil.Sub(now), p.MaxDelay)
	}
	return 0
}

// fail counts one failure and returns the lock-out it starts (zero when none). From the
// MaxFailures-th consecutive failure on, each failure locks entry for BaseDelay doubled
// per failure beyond the limit, capped at MaxDelay.
func (t *throttle) fail(p ThrottlePolicy, now time.Time) time.Duration {
	t.Failures++
	over := t.Failures - p.MaxFailures
	if over < 0 {
		return 0
	}
	d := p.BaseDelay
	for i := 0; i < over && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	t.LockedUntil = now.Add(d)
	return d
}
