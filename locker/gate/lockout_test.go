package gate

import (
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/policy"
)

// TestLockoutDelayIsCapped: from the MaxFailures-th failure on, each failure locks for
// BaseDelay doubled per failure beyond the limit, never more than MaxDelay.
func TestLockoutDelayIsCapped(t *testing.T) {
	p := policy.Throttle{MaxFailures: 3, BaseDelay: time.Second, MaxDelay: 10 * time.Second}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var l Lockout
	var got []time.Duration
	for range 8 {
		got = append(got, l.Fail(p, now))
	}
	want := []time.Duration{0, 0, 1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("delays %v, want %v", got, want)
	}
	if d := l.Check(p, now.Add(3*time.Second)); d != 7*time.Second {
		t.Fatalf("Check 3 s into a 10 s lock-out: %v, want 7s", d)
	}
	// A clock stepped back a year after the lock-out never locks longer than MaxDelay.
	if d := l.Check(p, now.Add(-365*24*time.Hour)); d != p.MaxDelay {
		t.Fatalf("Check after a step back: %v, want %v", d, p.MaxDelay)
	}
}
