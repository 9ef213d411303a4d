package link

import (
	"math/rand/v2"
	"time"
)

// backoff yields reconnect delays: exponential from min to max with "equal
// jitter" (a random point in the upper half of the step), so that lockers
// that lost the same broker at the same instant spread their reconnects.
type backoff struct {
	min, max time.Duration
	attempt  int
	rand     func() float64 // in [0, 1); injectable for tests
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, rand: rand.Float64}
}

// next returns the delay before the next attempt and advances.
func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	if d < b.max {
		b.attempt++
	}
	half := d / 2
	return half + time.Duration(b.rand()*float64(d-half))
}

// reset starts over after a successful connection.
func (b *backoff) reset() { b.attempt = 0 }
