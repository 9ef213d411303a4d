package gate

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when the test advances it, firing the timers
// that come due.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool { c.mu.Lock(); defer c.mu.Unlock(); s := !t.stopped; t.stopped = true; return s }
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

const delay = 6 * time.Second

func newGate() (*Gate, *fakeClock) {
	c := &fakeClock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	return New(c, delay), c
}

// enterAsync starts an Enter and returns a channel with its outcome.
func enterAsync(ctx context.Context, g *Gate, input string, prio bool) <-chan result {
	out := make(chan result, 1)
	go func() {
		t, err := g.Enter(ctx, input, prio)
		out <- result{input, t, err}
	}()
	return out
}

type result struct {
	input string
	t     *Ticket
	err   error
}

// queued waits until n attempts are queued (the goroutines have reached the gate).
func queued(t *testing.T, g *Gate, n int) {
	t.Helper()
	for range 1000 {
		g.mu.Lock()
		l := len(g.queue)
		g.mu.Unlock()
		if l == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("queue never reached %d", n)
}

func pending(ch <-chan result) bool {
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

func TestGateSpacesFailuresOnly(t *testing.T) {
	g, c := newGate()
	ctx := context.Background()
	tk, err := g.Enter(ctx, "keypad", true)
	if err != nil {
		t.Fatal(err)
	}
	tk.Done(false) // a success: the gate stays open
	tk, err = g.Enter(ctx, "control", false)
	if err != nil {
		t.Fatal(err)
	}
	tk.Done(true)
	if w := g.Wait(); w != delay {
		t.Fatalf("after a failure Wait = %v, want %v", w, delay)
	}
	ch := enterAsync(ctx, g, "control", false)
	queued(t, g, 1)
	c.Advance(delay - time.Second)
	if !pending(ch) {
		t.Fatal("admitted before the delay passed")
	}
	c.Advance(time.Second)
	if r := <-ch; r.err != nil {
		t.Fatal(r.err)
	} else {
		r.t.Done(false)
	}
}

func TestGateBusyAndPriority(t *testing.T) {
	g, c := newGate()
	ctx := context.Background()
	tk, _ := g.Enter(ctx, "control", false)
	tk.Done(true)
	ctl := enterAsync(ctx, g, "control", false)
	queued(t, g, 1)
	if _, err := g.Enter(ctx, "control", false); !errors.Is(err, ErrBusy) {
		t.Fatalf("second attempt from one input: %v, want ErrBusy", err)
	}
	scan := enterAsync(ctx, g, "scanner", false)
	queued(t, g, 2)
	key := enterAsync(ctx, g, "keypad", true)
	queued(t, g, 3)
	c.Advance(delay)
	first := <-key // the keypad goes first, whoever came before
	if first.err != nil || !pending(ctl) || !pending(scan) {
		t.Fatalf("keypad not first: %v", first.err)
	}
	first.t.Done(true)
	c.Advance(delay)
	second := <-ctl // then arrival order
	if second.err != nil || !pending(scan) {
		t.Fatalf("control not second: %v", second.err)
	}
	second.t.Done(false) // a success does not hold the scanner back
	if r := <-scan; r.err != nil {
		t.Fatal(r.err)
	} else {
		r.t.Done(false)
	}
}

// TestGateOpenQueuesSeveral: while the gate is open, attempts from one input queue
// for their turn (honest pickups in parallel) instead of being refused busy.
func TestGateOpenQueuesSeveral(t *testing.T) {
	g, _ := newGate()
	ctx := context.Background()
	first, err := g.Enter(ctx, "control", false) // evaluating
	if err != nil {
		t.Fatal(err)
	}
	a := enterAsync(ctx, g, "control", false)
	b := enterAsync(ctx, g, "control", false)
	queued(t, g, 2)
	first.Done(false)
	for range 2 { // in whichever order they queued
		var r result
		select {
		case r = <-a:
		case r = <-b:
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.t.Done(false)
	}
}

func TestGateContextDropsAttempt(t *testing.T) {
	g, c := newGate()
	tk, _ := g.Enter(context.Background(), "keypad", true)
	tk.Done(true)
	ctx, cancel := context.WithCancel(context.Background())
	ch := enterAsync(ctx, g, "keypad", true)
	queued(t, g, 1)
	cancel()
	if r := <-ch; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", r.err)
	}
	queued(t, g, 0)
	c.Advance(delay)
	tk, err := g.Enter(context.Background(), "keypad", true)
	if err != nil {
		t.Fatal(err)
	}
	tk.Done(false)
}

func TestGateHoldAndSetDelay(t *testing.T) {
	g, _ := newGate()
	g.Hold()
	if w := g.Wait(); w != delay {
		t.Fatalf("Hold: Wait = %v", w)
	}
	g.SetDelay(2 * time.Second)
	if w := g.Wait(); w != 2*time.Second {
		t.Fatalf("a shorter delay cuts the wait: %v", w)
	}
}

// TestGateBound: three inputs attempting as fast as the gate lets them, every attempt
// failing, for ten simulated minutes: at most span/delay + 1 evaluations.
func TestGateBound(t *testing.T) {
	g, c := newGate()
	span := 10 * time.Minute
	start := c.Now()
	var mu sync.Mutex
	evals := 0
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, in := range []string{"keypad", "control", "scanner"} {
		wg.Go(func() {
			for {
				tk, err := g.Enter(ctx, in, in == "keypad")
				if err != nil {
					return
				}
				mu.Lock()
				if !c.Now().After(start.Add(span)) {
					evals++
				}
				mu.Unlock()
				tk.Done(true)
			}
		})
	}
	for c.Now().Before(start.Add(span + time.Second)) {
		queued(t, g, 3)
		c.Advance(time.Second)
	}
	cancel()
	c.Advance(delay)
	wg.Wait()
	if limit := int(span/delay) + 1; evals > limit || evals < limit-1 {
		t.Fatalf("%d evaluations in %v, want at most %d (and about as many)", evals, span, limit)
	}
}

func TestWindowAlarm(t *testing.T) {
	var w Window
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	alarms := 0
	for i := range 100 { // one failure a minute: 60 in any hour
		if _, a := w.Fail(at.Add(time.Duration(i)*time.Minute), time.Hour, 30); a {
			alarms++
		}
	}
	if alarms != 2 { // at failure 31, then one hour later
		t.Fatalf("%d alarms, want 2", alarms)
	}
	w.Reset()
	if n, a := w.Fail(at.Add(200*time.Minute), time.Hour, 30); n != 1 || a {
		t.Fatalf("after Reset: %d, %v", n, a)
	}
	var slow Window
	for i := range 100 { // one every three minutes: 20 an hour, never over 30
		if _, a := slow.Fail(at.Add(time.Duration(i)*3*time.Minute), time.Hour, 30); a {
			t.Fatal("alarm below the limit")
		}
	}
}

func TestTally(t *testing.T) {
	var y Tally
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	for h := range 30 {
		y.Add(at.Add(time.Duration(h) * time.Hour))
	}
	if n := y.Sum(at.Add(29 * time.Hour)); n != 24 {
		t.Fatalf("Sum = %d, want 24 (one an hour)", n)
	}
	if n := y.Sum(at.Add(29*time.Hour + 12*time.Hour)); n != 12 {
		t.Fatalf("12 hours later Sum = %d, want 12", n)
	}
	if n := y.Sum(at.Add(100 * time.Hour)); n != 0 {
		t.Fatalf("long after Sum = %d", n)
	}
}
