package config

import (
	"time"

	"github.com/lockerd/lockerd/locker"
)

// Station lays the configured overrides over the station's defaults: the policy
// lockerd runs with.
func (p Policy) Station() locker.Policy {
	out := locker.DefaultPolicy()
	set := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	set(&out.Retention, p.Retention)
	set(&out.AnnouncedKeep, p.AnnouncedKeep)
	set(&out.PurgeAfter, p.PurgeAfter)
	set(&out.EpochLength, p.EpochLength)
	set(&out.AuditKeep, p.AuditKeep)
	set(&out.DoorOpenTimeout, p.DoorOpenTimeout)
	set(&out.LeftOpenAfter, p.LeftOpenAfter)
	set(&out.SessionIdle, p.SessionIdle)
	set(&out.HandoverTimeout, p.HandoverTimeout)
	set(&out.DuplicateScanWindow, p.DuplicateScanWindow)
	set(&out.CodeEntry.Delay, p.CodeEntry.Delay)
	if p.CodeEntry.MinLength > 0 {
		out.CodeEntry.MinLength = p.CodeEntry.MinLength
	}
	if p.CodeEntry.AlarmFailures > 0 {
		out.CodeEntry.AlarmFailures = p.CodeEntry.AlarmFailures
	}
	for _, t := range []struct {
		dst *locker.ThrottlePolicy
		src Throttle
	}{{&out.CodeThrottle, p.CodeThrottle}, {&out.CourierThrottle, p.CourierThrottle}} {
		if t.src.MaxFailures > 0 {
			t.dst.MaxFailures = t.src.MaxFailures
		}
		set(&t.dst.BaseDelay, t.src.BaseDelay)
		set(&t.dst.MaxDelay, t.src.MaxDelay)
	}
	return out
}
