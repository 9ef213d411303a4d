package protocol

// The members of the keypad guessing budget (docs/adr/0046-keypad-guessing-budget.md):
// the policy's code entry, the clear-throttle command, and the guessing and
// throttle_cleared events.

// CodeEntry bounds keypad guessing: codes of at least MinLength digits with the
// phone's last four, evaluated no sooner than DelayS after a failed one, and a
// guessing event past AlarmFailures failures in an hour.
type CodeEntry struct {
	MinLength     int   `json:"min_length"`     // 8..12
	DelayS        int64 `json:"delay_s"`        // 2..10
	AlarmFailures int   `json:"alarm_failures"` // 1..1000
}

// The ranges a device accepts for CodeEntry (locker.Policy.Validate's).
const (
	minCodeLength, maxCodeLength = 8, 12
	minCodeDelayS, maxCodeDelayS = 2, 10
	maxAlarmFailures             = 1000
)

func (c *CodeEntry) check(path string) error {
	switch {
	case c == nil:
		return nil
	case c.MinLength < minCodeLength || c.MinLength > maxCodeLength:
		return schemaErr(path+".min_length", ProblemBadValue, "want %d..%d", minCodeLength, maxCodeLength)
	case c.DelayS < minCodeDelayS || c.DelayS > maxCodeDelayS:
		return schemaErr(path+".delay_s", ProblemBadValue, "want %d..%d seconds", minCodeDelayS, maxCodeDelayS)
	case c.AlarmFailures < 1 || c.AlarmFailures > maxAlarmFailures:
		return schemaErr(path+".alarm_failures", ProblemBadValue, "want 1..%d", maxAlarmFailures)
	}
	return nil
}

// ClearThrottleBody clears a lock-out on an operator's word: the courier lock-out,
// or for code the legacy-code lock-out and the guessing alarm's count. It cannot
// shorten the code gate. The reply is done with no body.
type ClearThrottleBody struct {
	Source   ThrottleSource `json:"source"`   // code or courier
	Operator string         `json:"operator"` // who asked: audited
}

// Type implements Body.
func (*ClearThrottleBody) Type() CommandType { return CmdClearThrottle }

// Validate implements Body.
func (b *ClearThrottleBody) Validate() error {
	if b.Source != ThrottleCode && b.Source != ThrottleCourier {
		return schemaErr("body.source", ProblemBadValue, "want code or courier")
	}
	return checkID("body.operator", b.Operator)
}

// GuessingEvent reports more failed entries of Source (code or qr) within WindowS
// than the policy's alarm_failures: at most one an hour per source.
type GuessingEvent struct {
	Source   ThrottleSource `json:"source"`
	Failures int            `json:"failures"` // within the window (counted up to alarm_failures+1)
	WindowS  int64          `json:"window_s"`
}

// Validate implements EventBody.
func (e *GuessingEvent) Validate() error {
	if e.Source != ThrottleCode && e.Source != ThrottleQR {
		return schemaErr("body.source", ProblemBadValue, "want code or qr")
	}
	if e.Failures < 0 || e.WindowS < 0 {
		return schemaErr("body", ProblemBadValue, "negative count or window")
	}
	return nil
}

// ThrottleClearedEvent reports that an operator cleared a lock-out.
type ThrottleClearedEvent struct {
	Source  ThrottleSource `json:"source"`            // code or courier
	Actor   string         `json:"actor"`             // the operator
	Command string         `json:"command,omitempty"` // the clear-throttle command's id
}

// Validate implements EventBody.
func (e *ThrottleClearedEvent) Validate() error {
	if e.Source != ThrottleCode && e.Source != ThrottleCourier {
		return schemaErr("body.source", ProblemBadValue, "want code or courier")
	}
	if err := checkID("body.actor", e.Actor); err != nil {
		return err
	}
	return checkOptionalIDs("body.command", e.Command)
}
