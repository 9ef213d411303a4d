// Package keypadtest simulates keypads on fake GPIO pins (gpiotest.Pin)
// for tests and the simulator: a Matrix whose column lines follow the
// driven rows and the keys held down, and a Wiegand keypad that pulses its
// D0/D1 lines.
package keypadtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lockerd/lockerd/drivers/gpiotest"
	"github.com/lockerd/lockerd/drivers/keypad"
	"periph.io/x/conn/v3/gpio"
)

// Matrix is a fake matrix keypad. Row pins are named R0.., column pins C0..
type Matrix struct {
	Rows, Cols []string
	pins       gpiotest.Registry
	layout     [][]keypad.Key

	mu     sync.Mutex
	down   map[[2]int]bool
	onScan func()
}

// NewMatrix builds a fake keypad with layout (nil: keypad.DefaultLayout).
func NewMatrix(layout [][]keypad.Key) *Matrix {
	if layout == nil {
		layout = keypad.DefaultLayout
	}
	m := &Matrix{pins: gpiotest.Registry{}, layout: layout, down: map[[2]int]bool{}}
	for r := range layout {
		n := fmt.Sprintf("R%d", r)
		p := gpiotest.NewPin(n, r, gpio.High)
		p.OnOut = func(gpio.Level) { m.update() }
		p.OnIn = m.update // a released row drives nothing
		m.pins[n], m.Rows = p, append(m.Rows, n)
	}
	for c := range layout[0] {
		n := fmt.Sprintf("C%d", c)
		p := gpiotest.NewPin(n, 100+c, gpio.High)
		if c == 0 {
			p.OnRead = m.read0
		}
		m.pins[n], m.Cols = p, append(m.Cols, n)
	}
	return m
}

// OnScan sets f (nil: none) to be called as the driver starts each scan of the
// matrix: at its read of the first column with only the first row selected
// (driven low), which a scan does first and an idle matrix, all of whose rows are
// driven low, never does; so on keypads of two rows or more. Keys pressed or
// released from f (Hold) are what that whole scan reads, and the driver's next
// scan is f's next call: a test can show a key to exactly the scans it chooses,
// and judge their timing by the times of f's calls. f runs on the driver's
// scanning goroutine.
func (m *Matrix) OnScan(f func()) {
	m.mu.Lock()
	m.onScan = f
	m.mu.Unlock()
}

// read0 runs before each read of the first column: a scan starts if only the
// first row is selected.
func (m *Matrix) read0() {
	m.mu.Lock()
	f := m.onScan
	m.mu.Unlock()
	if f == nil || len(m.Rows) < 2 {
		return
	}
	for r, n := range m.Rows {
		row := m.pins[n]
		if selected := row.IsOutput() && row.Level() == gpio.Low; selected != (r == 0) {
			return
		}
	}
	f()
}

// ByName finds a pin of the keypad, like gpioreg.ByName.
func (m *Matrix) ByName(name string) gpio.PinIO { return m.pins.ByName(name) }

// Config returns a MatrixConfig wired to the fake pins.
func (m *Matrix) Config() keypad.MatrixConfig {
	return keypad.MatrixConfig{Rows: m.Rows, Cols: m.Cols, Layout: m.layout, ByName: m.ByName}
}

func (m *Matrix) find(k keypad.Key) (int, int, error) {
	for r, row := range m.layout {
		for c, x := range row {
			if x == k {
				return r, c, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("keypadtest: key not on this keypad")
}

// Hold presses (down) or releases a key.
func (m *Matrix) Hold(k keypad.Key, down bool) error {
	r, c, err := m.find(k)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.down[[2]int{r, c}] = down
	m.mu.Unlock()
	m.update()
	return nil
}

// Type presses and releases each key, holding it for hold and pausing gap
// between keys; bounce > 0 adds that many contact bounces to each press. The
// bounces are released as soon as pressed, almost always between two scans of
// the driver, which then never sees them: Type does not test a debounce (a
// test shows bounces to chosen scans with OnScan).
func (m *Matrix) Type(ctx context.Context, keys string, hold, gap time.Duration, bounce int) error {
	for _, k := range []byte(keys) {
		for range bounce {
			if err := m.Hold(keypad.Key(k), true); err != nil {
				return err
			}
			_ = m.Hold(keypad.Key(k), false)
		}
		if err := m.Hold(keypad.Key(k), true); err != nil {
			return err
		}
		if err := pause(ctx, hold); err != nil {
			return err
		}
		_ = m.Hold(keypad.Key(k), false)
		if err := pause(ctx, gap); err != nil {
			return err
		}
	}
	return nil
}

// update sets every column from the rows driven low (outputs at Low: a released
// row drives nothing) and the keys down. It
// holds the lock while setting them, so concurrent updates (a key press and
// a row change) cannot leave stale levels behind.
func (m *Matrix) update() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for c, col := range m.Cols {
		l := gpio.High
		for r := range m.Rows {
			if row := m.pins[m.Rows[r]]; m.down[[2]int{r, c}] && row.IsOutput() && row.Level() == gpio.Low {
				l = gpio.Low
			}
		}
		m.pins[col].Set(l)
	}
}

// Wiegand is a fake Wiegand keypad on pins "D0" and "D1".
//
// It paces its bits by their reader: after pulsing a line configured for edge
// detection it waits until a goroutine is back in WaitForEdge on that line with
// the edge taken (gpiotest.Pin.WaitingForEdge) before the next bit. That models
// gpioioctl, whose kernel line-event queue keeps every edge in order, on fake
// pins that keep only one pending edge: a late reader can neither lose a bit
// (two edges coalescing) nor reorder the bits of the two lines. On hardware the
// kernel queues each line's events separately; see the README for what that
// means for ordering across lines.
type Wiegand struct {
	D0, D1 *gpiotest.Pin
	Mode   int           // 4 or 8 bits per key
	BitGap time.Duration // between bits; default 2 ms
	// EndBurst, if set, ends each burst of Type instead of its real-time pause
	// (a test that replaced the driver's frame-gap timer).
	EndBurst func(context.Context) error

	mu   sync.Mutex
	sent int
}

// NewWiegand returns a fake keypad in the given burst mode.
func NewWiegand(mode int) *Wiegand {
	return &Wiegand{D0: gpiotest.NewPin("D0", 0, gpio.High), D1: gpiotest.NewPin("D1", 1, gpio.High), Mode: mode}
}

// ByName finds D0 or D1.
func (w *Wiegand) ByName(name string) gpio.PinIO {
	return gpiotest.Registry{"D0": w.D0, "D1": w.D1}.ByName(name)
}

// Sent counts the bits pulsed so far (and taken by their reader, if any).
func (w *Wiegand) Sent() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent
}

// SendBits pulses the lines for raw bits, e.g. a 26-bit card frame.
func (w *Wiegand) SendBits(ctx context.Context, bits []byte) error {
	gap := w.BitGap
	if gap <= 0 {
		gap = 2 * time.Millisecond
	}
	for _, b := range bits {
		p := w.D0
		if b == 1 {
			p = w.D1
		}
		p.Set(gpio.Low)
		p.Set(gpio.High)
		if e := p.EdgeDetection(); e == gpio.FallingEdge || e == gpio.BothEdges {
			if err := untilTaken(ctx, p); err != nil {
				return err
			}
		}
		w.mu.Lock()
		w.sent++
		w.mu.Unlock()
		if err := pause(ctx, gap); err != nil {
			return err
		}
	}
	return nil
}

// untilTaken waits until p's reader has taken its edges and waits for more.
func untilTaken(ctx context.Context, p *gpiotest.Pin) error {
	for !p.WaitingForEdge() {
		if err := pause(ctx, 50*time.Microsecond); err != nil {
			return err
		}
	}
	return nil
}

// Type sends each key as one burst, followed by EndBurst or, without it, a
// pause of frameGap.
func (w *Wiegand) Type(ctx context.Context, keys string, frameGap time.Duration) error {
	for _, k := range []byte(keys) {
		bits, err := keypad.EncodeWiegand(keypad.Key(k), w.Mode)
		if err != nil {
			return err
		}
		if err := w.SendBits(ctx, bits); err != nil {
			return err
		}
		if w.EndBurst != nil {
			err = w.EndBurst(ctx)
		} else {
			err = pause(ctx, frameGap)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("keypadtest: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}
