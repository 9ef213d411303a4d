package link

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// connState is the connection flag with change notification, so that the
// event publisher can wait for "connected" instead of polling.
type connState struct {
	mu      sync.Mutex
	up      bool
	changed chan struct{} // closed and replaced on every change
}

func newConnState() connState { return connState{changed: make(chan struct{})} }

func (c *connState) set(up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.up != up {
		c.up = up
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

func (c *connState) get() (bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up, c.changed
}

// waitUp blocks until connected or ctx ends, reporting which. An ended ctx
// wins even when connected, so loops built on it stop.
func (c *connState) waitUp(ctx context.Context) bool {
	for ctx.Err() == nil {
		up, changed := c.get()
		if up {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		}
	}
	return false
}

// counters are the link's running totals, for health reports.
type counters struct {
	received, refused, duplicates, executed, dropped, events, oversized, reasserted, rebirths atomic.Uint64
}

// Stats is a snapshot of the link's counters.
type Stats struct {
	Connected  bool
	Queued     int    // commands waiting for the worker
	Received   uint64 // commands received
	Refused    uint64 // refused before reaching the handler
	Duplicates uint64 // answered from the command log
	Executed   uint64 // handed to the handler
	Dropped    uint64 // dropped without a reply (queue and busy list full)
	Events     uint64 // events acknowledged by the broker
	Oversized  uint64 // connections cut for a broker packet over MaxPacketSize
	Reasserted uint64 // births published again over a late Last Will (presence.go)
	Rebirths   uint64 // births published again for a changed health summary (presence.go)
}

// Stats returns a snapshot of the link's counters.
func (l *Link) Stats() Stats {
	up, _ := l.conn.get()
	return Stats{
		Connected: up, Queued: l.queue.len(),
		Received: l.stats.received.Load(), Refused: l.stats.refused.Load(),
		Duplicates: l.stats.duplicates.Load(), Executed: l.stats.executed.Load(),
		Dropped: l.stats.dropped.Load(), Events: l.stats.events.Load(),
		Oversized: l.stats.oversized.Load(), Reasserted: l.stats.reasserted.Load(),
		Rebirths: l.stats.rebirths.Load(),
	}
}

// Connected reports whether the link is connected to the broker.
func (l *Link) Connected() bool {
	up, _ := l.conn.get()
	return up
}

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
