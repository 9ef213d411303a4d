package keypad

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ManualGap replaces a Wiegand's frame-gap timer in tests: a burst ends when
// the test calls End, never on its own, so a stalled sender cannot split a
// burst.
type ManualGap struct {
	c chan time.Time

	mu    sync.Mutex
	taken int // bits run has taken (each one resets the timer)
}

func (g *ManualGap) C() <-chan time.Time { return g.c }

func (g *ManualGap) Reset(time.Duration) {
	g.mu.Lock()
	g.taken++
	g.mu.Unlock()
}

func (g *ManualGap) Stop() {}

// Taken counts the bits the Wiegand has taken into bursts.
func (g *ManualGap) Taken() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.taken
}

// End waits until the Wiegand has taken sent bits in all, then ends the
// burst (as FrameGap of silence would).
func (g *ManualGap) End(ctx context.Context, sent int) error {
	for g.Taken() < sent {
		select {
		case <-ctx.Done():
			return fmt.Errorf("keypad: %d of %d bits taken: %w", g.Taken(), sent, ctx.Err())
		case <-time.After(50 * time.Microsecond):
		}
	}
	select {
	case g.c <- time.Now():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OpenWiegandManualGap opens a Wiegand whose bursts end by gap.End.
func OpenWiegandManualGap(cfg WiegandConfig) (w *Wiegand, gap *ManualGap, err error) {
	gap = &ManualGap{c: make(chan time.Time)}
	w, err = openWiegand(cfg, func() gapTimer { return gap })
	return w, gap, err
}
