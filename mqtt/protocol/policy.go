package protocol

import "time"

// PolicyBody replaces the station's policy. Version must grow: the device
// refuses a version not newer than the one it runs (ReasonStalePolicy), so
// that a delayed or replayed older policy cannot roll back a newer one.
// Durations are whole seconds.
type PolicyBody struct {
	Version        uint32 `json:"version"`          // >= 1
	RetentionS     int64  `json:"retention_s"`      // deposited -> expired
	AnnouncedKeepS int64  `json:"announced_keep_s"` // announced, never deposited -> dropped
	PurgeAfterS    int64  `json:"purge_after_s"`    // terminal records deleted after this
	// CodeEntry bounds keypad guessing (ADR 0046); absent: the device keeps its own.
	CodeEntry *CodeEntry `json:"code_entry,omitempty"`
	// LegacyCodes accepts scheme-1 verifiers (a code alone) while parcels announced
	// before ADR 0046 still wait; CodeThrottle then governs their lookups.
	LegacyCodes      bool     `json:"legacy_codes,omitempty"`
	CodeThrottle     Throttle `json:"code_throttle"`    // scheme-1 (legacy) pickup-code guessing
	CourierThrottle  Throttle `json:"courier_throttle"` // courier badge/PIN guessing
	DoorOpenTimeoutS int64    `json:"door_open_timeout_s"`
	LeftOpenAfterS   int64    `json:"left_open_after_s"`
}

// Throttle bounds guessing: after MaxFailures consecutive failures each
// further failure locks entry for a delay doubling from BaseDelayS up to
// MaxDelayS. MaxFailures stays far below the 100 that NIST SP 800-63B allows.
type Throttle struct {
	MaxFailures int   `json:"max_failures"` // 1..20
	BaseDelayS  int64 `json:"base_delay_s"` // 1..3600
	MaxDelayS   int64 `json:"max_delay_s"`  // base..86400
}

// Ranges the device accepts; a policy outside them is refused as schema.
const (
	maxRetention  = 90 * 24 * 3600
	maxThrottle   = 20
	maxDelay      = 24 * 3600
	maxDoorOpen   = 120
	maxLeftOpenS  = 24 * 3600
	minLeftOpenS  = 10
	maxBaseDelayS = 3600
)

// Type implements Body.
func (*PolicyBody) Type() CommandType { return CmdPolicy }

// Validate implements Body.
func (b *PolicyBody) Validate() error {
	if b.Version == 0 {
		return schemaErr("body.version", ProblemBadValue, "want 1 or more")
	}
	for _, f := range []struct {
		path     string
		v        int64
		min, max int64
	}{
		{"body.retention_s", b.RetentionS, 3600, maxRetention},
		{"body.announced_keep_s", b.AnnouncedKeepS, 3600, maxRetention},
		{"body.purge_after_s", b.PurgeAfterS, 1, maxRetention}, // the station needs a positive delay
		{"body.door_open_timeout_s", b.DoorOpenTimeoutS, 1, maxDoorOpen},
		{"body.left_open_after_s", b.LeftOpenAfterS, minLeftOpenS, maxLeftOpenS},
	} {
		if f.v < f.min || f.v > f.max {
			return schemaErr(f.path, ProblemBadValue, "want %d..%d seconds", f.min, f.max)
		}
	}
	if err := b.CodeEntry.check("body.code_entry"); err != nil {
		return err
	}
	if err := b.CodeThrottle.check("body.code_throttle"); err != nil {
		return err
	}
	return b.CourierThrottle.check("body.courier_throttle")
}

func (t Throttle) check(path string) error {
	switch {
	case t.MaxFailures < 1 || t.MaxFailures > maxThrottle:
		return schemaErr(path+".max_failures", ProblemBadValue, "want 1..%d", maxThrottle)
	case t.BaseDelayS < 1 || t.BaseDelayS > maxBaseDelayS:
		return schemaErr(path+".base_delay_s", ProblemBadValue, "want 1..%d seconds", maxBaseDelayS)
	case t.MaxDelayS < t.BaseDelayS || t.MaxDelayS > maxDelay:
		return schemaErr(path+".max_delay_s", ProblemBadValue, "want base_delay_s..%d seconds", maxDelay)
	}
	return nil
}

// Seconds converts a wire duration to a time.Duration.
func Seconds(s int64) time.Duration { return time.Duration(s) * time.Second }
