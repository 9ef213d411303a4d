package sim

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/drivers/keypad/keypadtest"
)

// keySpan is how long, in the keypad driver's own scans, a key is held down and then
// left up: twice the driver's default debounce (20 ms), so that each press and each
// release is seen, however late a loaded machine runs the scans. Timing the key by the
// wall clock instead loses a repeated key ("55") when the scans fall behind.
const keySpan = 40 * time.Millisecond

// presser presses the fake matrix's keys for the page, one at a time, in order.
type presser struct {
	mu    sync.Mutex
	m     *keypadtest.Matrix
	scans chan time.Time // start times of the driver's scans
}

func newPresser(m *keypadtest.Matrix) *presser {
	p := &presser{m: m, scans: make(chan time.Time, 64)}
	m.OnScan(func() {
		select {
		case p.scans <- time.Now():
		default: // nobody pressing: the times are not wanted
		}
	})
	return p
}

// press holds k down for keySpan of the driver's scans, then leaves it up as long.
func (p *presser) press(ctx context.Context, k keypad.Key) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.m.Hold(k, true); err != nil {
		return err
	}
	err := p.scanned(ctx)
	if rerr := p.m.Hold(k, false); err == nil {
		err = rerr
	}
	if err == nil {
		err = p.scanned(ctx)
	}
	return err
}

// scanned waits until scans that started from now on span keySpan. A scan sees the
// keys as they were when it started.
func (p *presser) scanned(ctx context.Context) error {
	since := time.Now()
	var first time.Time
	timeout := time.NewTimer(3 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case t := <-p.scans:
			switch {
			case t.Before(since):
			case first.IsZero():
				first = t
			case t.Sub(first) >= keySpan:
				return nil
			}
		case <-timeout.C:
			return errors.New("sim: the keypad driver is not scanning")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
