// Package gate spaces the evaluations of guessed secrets (docs/adr/0046-keypad-guessing-budget.md):
// no evaluation starts sooner than a fixed delay after the last failed one, whatever
// the input, so the number of failures in any span is bounded by span/delay + 1 and no
// success can restore an attacker's allowance. Attempts wait their turn, the priority
// input's first (the keypad's), then the others in arrival order, at most one waiting
// per input. It is pure logic over an injected clock; package locker stores what must
// survive a restart.
package gate

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Clock is the gate's source of time. AfterFunc calls f in its own goroutine once d
// has passed and returns a function that cancels it.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// ErrBusy refuses an attempt from an input that already has one waiting; it costs
// nothing and reveals nothing.
var ErrBusy = errors.New("gate: an attempt from this input is already waiting")

// Gate admits one evaluation at a time, and none sooner than its delay after a failed
// one. The zero value is not usable: call New.
type Gate struct {
	clock Clock

	mu        sync.Mutex
	delay     time.Duration
	notBefore time.Time // no evaluation starts before this (the clock's time)
	running   bool      // an admitted evaluation has not reported Done yet
	queue     []*waiter
	timer     func() bool // cancels the armed dispatch; nil when none is armed
}

type waiter struct {
	input    string
	priority bool
	ready    chan struct{}
	admitted bool
}

// New returns an open gate with the given delay.
func New(clock Clock, delay time.Duration) *Gate {
	return &Gate{clock: clock, delay: delay}
}

// SetDelay changes the delay. A wait already under way is cut to the new delay if it
// is shorter: the gate never holds an attempt longer than its delay.
func (g *Gate) SetDelay(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.delay = d
	if limit := g.clock.Now().Add(d); g.notBefore.After(limit) {
		g.notBefore = limit
	}
}

// Hold closes the gate for one delay from now, as a failure would: a station that
// starts with a failure on record holds it, so that a restart never shortens the
// spacing (the stored time may be on a wall clock that has since moved).
func (g *Gate) Hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.notBefore = g.clock.Now().Add(g.delay)
}

// Wait returns how long an attempt arriving now would wait for the delay, at least
// (zero when the gate is open): what the panel shows while it checks.
func (g *Gate) Wait() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return max(g.notBefore.Sub(g.clock.Now()), 0)
}

// Ticket is an admitted evaluation. Its holder evaluates the attempt and then calls
// Done exactly once.
type Ticket struct {
	g    *Gate
	once sync.Once
}

// Done ends the evaluation: failed closes the gate for one delay from now.
func (t *Ticket) Done(failed bool) {
	t.once.Do(func() {
		g := t.g
		g.mu.Lock()
		defer g.mu.Unlock()
		g.running = false
		if failed {
			g.notBefore = g.clock.Now().Add(g.delay)
		}
		g.dispatch()
	})
}

// Enter waits until the attempt from input may be evaluated, and returns its ticket.
// priority puts it ahead of the other inputs' (the keypad, where a person stands).
// While the gate is closed (a failure less than a delay ago) it fails with ErrBusy at
// once when input already has an attempt waiting; while it is open, attempts only
// queue for their turn to be evaluated, one at a time, and an input may have several
// (honest pickups in parallel). It fails with ctx's error when ctx ends first (the
// attempt is then dropped, costing nothing).
func (g *Gate) Enter(ctx context.Context, input string, priority bool) (*Ticket, error) {
	g.mu.Lock()
	if g.notBefore.After(g.clock.Now()) {
		for _, w := range g.queue {
			if w.input == input {
				g.mu.Unlock()
				return nil, ErrBusy
			}
		}
	}
	w := &waiter{input: input, priority: priority, ready: make(chan struct{})}
	at := len(g.queue)
	if priority {
		for at = 0; at < len(g.queue) && g.queue[at].priority; at++ {
		}
	}
	g.queue = append(g.queue[:at], append([]*waiter{w}, g.queue[at:]...)...)
	g.dispatch()
	g.mu.Unlock()

	select {
	case <-w.ready:
		return &Ticket{g: g}, nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.admitted { // admitted as ctx ended: give the turn on, nothing was evaluated
		g.running = false
		g.dispatch()
		return nil, ctx.Err()
	}
	for i, q := range g.queue {
		if q == w {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			break
		}
	}
	return nil, ctx.Err()
}

// dispatch admits the head of the queue if the gate is free and open, or arms a timer
// for when it opens. g.mu is held.
func (g *Gate) dispatch() {
	if g.running || len(g.queue) == 0 {
		return
	}
	if wait := g.notBefore.Sub(g.clock.Now()); wait > 0 {
		if g.timer == nil {
			g.timer = g.clock.AfterFunc(wait, func() {
				g.mu.Lock()
				defer g.mu.Unlock()
				g.timer = nil
				g.dispatch()
			})
		}
		return
	}
	w := g.queue[0]
	g.queue = g.queue[1:]
	g.running, w.admitted = true, true
	close(w.ready)
}

// SystemClock is the wall clock (with its monotonic reading) and time.AfterFunc.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
