// Package policy holds a station's timing, retention and guessing rules as plain
// values: what configuration supplies, what the cloud's versioned policy command
// replaces (WithCloud says which fields), and the rules every policy obeys (Validate).
// It has no state and no store; package locker keeps the policy in force and writes a
// new one in the transition that audits it.
package policy

import (
	"errors"
	"fmt"
	"time"
)

// CodeEntry bounds guessing of pickup codes (docs/adr/0046-keypad-guessing-budget.md):
// a code of at least MinLength digits and the phone's last four, checked no sooner
// than Delay after the last failed check, whatever the input; more than
// AlarmFailures failures in a rolling hour raise a guessing event.
type CodeEntry struct {
	MinLength     int           `json:"min_length"`
	Delay         time.Duration `json:"delay"`
	AlarmFailures int           `json:"alarm_failures"`
}

// The ranges Policy.Validate accepts for CodeEntry: every policy within them meets
// ADR 0046's targets (locker/budget_math_test.go checks the corners).
const (
	MinCodeLength, MaxCodeLength = 8, 12
	MinCodeDelay, MaxCodeDelay   = 2 * time.Second, 10 * time.Second
	MaxAlarmFailures             = 1000
)

// Throttle bounds guessing by a lock-out: courier logins, and pickup codes of
// scheme 1 while LegacyCodes is set. After MaxFailures consecutive failures,
// every further failure locks entry for a delay that doubles from BaseDelay up to
// MaxDelay. The count is per device, not per code: guessing spreads over every waiting
// parcel, so only a device-wide bound means anything (see docs/privacy.md).
type Throttle struct {
	MaxFailures int           `json:"max_failures"`
	BaseDelay   time.Duration `json:"base_delay"`
	MaxDelay    time.Duration `json:"max_delay"`
}

// Policy holds the station's timing and retention rules. The cloud may replace it by a
// versioned policy command; configuration supplies the first one.
type Policy struct {
	Version int `json:"version"`

	Retention     time.Duration `json:"retention"`      // deposited -> expired
	AnnouncedKeep time.Duration `json:"announced_keep"` // announced but never deposited -> cancelled
	PurgeAfter    time.Duration `json:"purge_after"`    // terminal records are deleted after this
	EpochLength   time.Duration `json:"epoch_length"`   // crypto-shredding granularity
	AuditKeep     time.Duration `json:"audit_keep"`     // audit entries older than this are pruned

	CodeEntry CodeEntry `json:"code_entry"`
	// LegacyCodes accepts scheme-1 verifiers (a code alone, announced before ADR
	// 0046) for announcement and lookup; CodeThrottle then governs their lookups.
	LegacyCodes     bool     `json:"legacy_codes,omitempty"`
	CodeThrottle    Throttle `json:"code_throttle"`
	CourierThrottle Throttle `json:"courier_throttle"`

	DoorOpenTimeout     time.Duration `json:"door_open_timeout"` // unlock without the door opening -> jammed
	LeftOpenAfter       time.Duration `json:"left_open_after"`
	SessionIdle         time.Duration `json:"session_idle"`
	HandoverTimeout     time.Duration `json:"handover_timeout"`
	DuplicateScanWindow time.Duration `json:"duplicate_scan_window"`
}

// WithCloud returns p with the values a cloud policy command sets taken from c
// (version, retention, announced_keep, purge_after, code_entry, legacy_codes, the
// throttles, door_open_timeout, left_open_after; docs/protocol.md): the rest (epoch_length, audit_keep,
// session_idle, handover_timeout, duplicate_scan_window) stays the configuration's.
func (p Policy) WithCloud(c Policy) Policy {
	p.Version = c.Version
	p.Retention, p.AnnouncedKeep, p.PurgeAfter = c.Retention, c.AnnouncedKeep, c.PurgeAfter
	p.CodeThrottle, p.CourierThrottle = c.CodeThrottle, c.CourierThrottle
	if c.CodeEntry != (CodeEntry{}) { // a policy stored before ADR 0046 has none: keep this one's
		p.CodeEntry = c.CodeEntry
	}
	p.LegacyCodes = c.LegacyCodes
	p.DoorOpenTimeout, p.LeftOpenAfter = c.DoorOpenTimeout, c.LeftOpenAfter
	return p
}

// Default returns the policy a station runs with when nothing else is said.
func Default() Policy {
	return Policy{
		Version:             0,
		Retention:           72 * time.Hour,
		AnnouncedKeep:       14 * 24 * time.Hour,
		PurgeAfter:          24 * time.Hour,
		EpochLength:         7 * 24 * time.Hour,
		AuditKeep:           365 * 24 * time.Hour,
		CodeEntry:           CodeEntry{MinLength: 8, Delay: 6 * time.Second, AlarmFailures: 30},
		CodeThrottle:        Throttle{MaxFailures: 5, BaseDelay: 30 * time.Second, MaxDelay: 30 * time.Minute},
		CourierThrottle:     Throttle{MaxFailures: 5, BaseDelay: 30 * time.Second, MaxDelay: 30 * time.Minute},
		DoorOpenTimeout:     6 * time.Second,
		LeftOpenAfter:       90 * time.Second,
		SessionIdle:         3 * time.Minute,
		HandoverTimeout:     3 * time.Minute,
		DuplicateScanWindow: 1500 * time.Millisecond,
	}
}

// Validate reports the first rule a policy breaks, naming the field.
func (p Policy) Validate() error {
	var errs []error
	pos := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("locker: policy %s must be positive, got %v", name, d))
		}
	}
	pos("retention", p.Retention)
	pos("announced_keep", p.AnnouncedKeep)
	pos("purge_after", p.PurgeAfter)
	pos("door_open_timeout", p.DoorOpenTimeout)
	pos("left_open_after", p.LeftOpenAfter)
	pos("session_idle", p.SessionIdle)
	pos("handover_timeout", p.HandoverTimeout)
	if p.AuditKeep < 24*time.Hour {
		errs = append(errs, fmt.Errorf("locker: policy audit_keep must be at least 24h, got %v", p.AuditKeep))
	}
	if p.EpochLength < time.Hour {
		errs = append(errs, fmt.Errorf("locker: policy epoch_length must be at least 1h, got %v", p.EpochLength))
	}
	if p.DuplicateScanWindow < 0 {
		errs = append(errs, fmt.Errorf("locker: policy duplicate_scan_window must not be negative"))
	}
	if ce := p.CodeEntry; ce.MinLength < MinCodeLength || ce.MinLength > MaxCodeLength {
		errs = append(errs, fmt.Errorf("locker: policy code_entry.min_length must be %d..%d, got %d", MinCodeLength, MaxCodeLength, ce.MinLength))
	}
	if d := p.CodeEntry.Delay; d < MinCodeDelay || d > MaxCodeDelay || d%time.Second != 0 {
		errs = append(errs, fmt.Errorf("locker: policy code_entry.delay must be whole seconds in %v..%v, got %v", MinCodeDelay, MaxCodeDelay, d))
	}
	if n := p.CodeEntry.AlarmFailures; n < 1 || n > MaxAlarmFailures {
		errs = append(errs, fmt.Errorf("locker: policy code_entry.alarm_failures must be 1..%d, got %d", MaxAlarmFailures, n))
	}
	for name, t := range map[string]Throttle{"code_throttle": p.CodeThrottle, "courier_throttle": p.CourierThrottle} {
		// NIST SP 800-63B caps consecutive failures at 100; a lock-out long before that.
		if t.MaxFailures < 1 || t.MaxFailures > 20 {
			errs = append(errs, fmt.Errorf("locker: policy %s.max_failures must be 1..20, got %d", name, t.MaxFailures))
		}
		if t.BaseDelay <= 0 || t.MaxDelay < t.BaseDelay {
			errs = append(errs, fmt.Errorf("locker: policy %s needs 0 < base_delay <= max_delay", name))
		}
	}
	return errors.Join(errs...)
}
