package gate

import (
	"errors"
	"fmt"
	"time"
)

// ErrThrottled is matched by every ThrottledError: entry is locked (package locker
// re-exports it).
var ErrThrottled = errors.New("locker: too many failures, entry locked")

// ThrottledError is returned while a lock-out (Lockout) keeps entry locked; it matches
// ErrThrottled.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("locker: too many failures, entry locked for %v", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrThrottled) hold.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }
