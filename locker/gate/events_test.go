package gate

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/model"
)

func TestEvents(t *testing.T) {
	e := Throttled(model.ThrottleCourier, "c-1", 5, 90*time.Second+400*time.Millisecond, "one courier badge locked")
	if e.Type != model.EvThrottled || e.Seconds != 90 || e.Count != 5 || e.Actor != "c-1" || e.Source != model.ThrottleCourier {
		t.Errorf("throttled %+v", e)
	}
	g := Guessing(model.ThrottleQR, "QR scans", 21, 20)
	if g.Type != model.EvGuessing || g.Seconds != 3600 || g.Count != 21 || g.Reason != "more than 20 failed QR scans in an hour" {
		t.Errorf("guessing %+v", g)
	}
}

func TestThrottledError(t *testing.T) {
	var err error = &ThrottledError{RetryAfter: 90*time.Second + 300*time.Millisecond}
	if !errors.Is(err, ErrThrottled) || err.Error() != "locker: too many failures, entry locked for 1m30s" {
		t.Errorf("%v", err)
	}
	var te *ThrottledError
	if !errors.As(fmt.Errorf("login: %w", err), &te) || te.RetryAfter < 90*time.Second {
		t.Error("not found by errors.As through wrapping")
	}
}
