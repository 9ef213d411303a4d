package keypad_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lockerd/lockerd/drivers/gpiotest"
	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/drivers/keypad/keypadtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type keySink chan keypad.Key

func (s keySink) collect(t *testing.T, n int) string {
	t.Helper()
	var got []byte
	for len(got) < n {
		select {
		case k := <-s:
			got = append(got, byte(k))
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d of %d keys", len(got), n)
		}
	}
	return string(got)
}

func (s keySink) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-s:
		t.Fatal("unexpected key")
	case <-time.After(d):
	}
}

// openFastMatrix opens a matrix on a fake 4x4 keypad with short timings, closed with
// the test, and returns the fake, the matrix and its keys.
func openFastMatrix(t *testing.T) (*keypadtest.Matrix, *keypad.Matrix, keySink) {
	t.Helper()
	fake := keypadtest.NewMatrix(nil)
	keys := make(keySink, 64)
	cfg := fake.Config()
	cfg.ScanInterval, cfg.Debounce, cfg.IdleAfter = 2*time.Millisecond, fastDebounce, 50*time.Millisecond
	cfg.OnKey = func(k keypad.Key) { keys <- k }
	cfg.Logger = quiet
	m, err := keypad.OpenMatrix(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return fake, m, keys
}

// fastDebounce is openFastMatrix's debounce.
const fastDebounce = 10 * time.Millisecond

// typeKeys types key by key on fake, paced by the matrix rather than by the
// clock: it presses a key (after bounce short bounces) until the matrix reported
// a key, holds it hold longer, releases it, and waits until the matrix has
// scanned long enough since to confirm the release before the next press. So a
// stalled scanner can neither miss a press nor the release between two presses of
// one key; the keys reported are returned.
func typeKeys(t *testing.T, fake *keypadtest.Matrix, keys keySink, typed string, hold time.Duration, bounce int) string {
	t.Helper()
	var got []byte
	for _, k := range []byte(typed) {
		for range bounce {
			if err := fake.Hold(keypad.Key(k), true); err != nil {
				t.Fatal(err)
			}
			fake.Hold(keypad.Key(k), false)
		}
		if err := fake.Hold(keypad.Key(k), true); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-keys:
			got = append(got, byte(r))
		case <-time.After(5 * time.Second):
			t.Fatalf("key %q pressed, none reported (got %q)", k, got)
		}
		time.Sleep(hold)
		fake.Hold(keypad.Key(k), false)
		untilReleaseConfirmed(t, fake, time.Now())
	}
	return string(got)
}

// untilReleaseConfirmed waits until the matrix has seen every key up for a
// debounce window after released, or gone idle (which it does only then). It
// reads the scans from the last row's Out events: each scan drives that row
// low once, and reads the columns after driving it. The scan whose last-row Out
// is outs[1] read every row after released (the one of outs[0] may have read the
// first rows before) and took its time before outs[2]; the scan of outs[n-2]
// took its time after that Out, and has been dealt with by outs[n-1].
func untilReleaseConfirmed(t *testing.T, fake *keypadtest.Matrix, released time.Time) {
	t.Helper()
	last := fake.ByName(fake.Rows[len(fake.Rows)-1]).(*gpiotest.Pin)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var outs []time.Time
		for _, o := range last.Outs() {
			if o.At.After(released) {
				outs = append(outs, o.At)
			}
		}
		if n := len(outs); n >= 4 && outs[n-2].Sub(outs[2]) >= fastDebounce || matrixIdle(fake) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the matrix did not confirm a release")
		}
		time.Sleep(time.Millisecond)
	}
}

// matrixIdle: all rows driven low, as only an idle matrix has them.
func matrixIdle(fake *keypadtest.Matrix) bool {
	for _, n := range fake.Rows {
		if p := fake.ByName(n).(*gpiotest.Pin); !p.IsOutput() || p.Level() != gpio.Low {
			return false
		}
	}
	return true
}

func TestMatrix(t *testing.T) {
	tests := []struct {
		name   string
		keys   string
		hold   time.Duration // after the key was reported
		bounce int
	}{
		{"clean presses", "48213377#", 0, 0},
		{"held presses", "4477", 30 * time.Millisecond, 0},
		{"bouncing contacts", "1*0#AD", 0, 3}, // released before the next scan: TestMatrixDebounce shows bounces to scans
		{"a long hold is one key", "5", 400 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, _, keys := openFastMatrix(t)
			if got := typeKeys(t, fake, keys, tt.keys, tt.hold, tt.bounce); got != tt.keys {
				t.Errorf("keys %q, want %q", got, tt.keys)
			}
			keys.none(t, 100*time.Millisecond)
		})
	}
}

// TestMatrixNeverDrivesARowHigh: while scanning, unselected rows are released, not
// driven high, so two keys pressed in one column never short a high output to a
// low one (found by a review); the keys still read right, a two-key press included.
func TestMatrixNeverDrivesARowHigh(t *testing.T) {
	fake, _, keys := openFastMatrix(t)
	if got := typeKeys(t, fake, keys, "147", 0, 0); got != "147" {
		t.Fatalf("keys %q", got)
	}
	for _, k := range []keypad.Key{'1', '4'} { // one column, two rows, together
		if err := fake.Hold(k, true); err != nil {
			t.Fatal(err)
		}
	}
	got := keys.collect(t, 2)
	fake.Hold('1', false)
	fake.Hold('4', false)
	if got != "14" && got != "41" {
		t.Fatalf("two keys in one column: %q", got)
	}
	for _, n := range fake.Rows {
		for _, o := range fake.ByName(n).(*gpiotest.Pin).Outs() {
			if o.Level == gpio.High {
				t.Fatalf("row %s was driven high", n)
			}
		}
	}
}

// TestMatrixHaltWithAKeyHeld: Halt returns while a key is held down (a stuck key, a
// hand on the keypad), and the rows are released (found by a review: the scanner
// went on scanning the held key and Halt waited for it forever).
func TestMatrixHaltWithAKeyHeld(t *testing.T) {
	for range 50 {
		fake, m, keys := openFastMatrix(t)
		fake.Hold('5', true)
		keys.collect(t, 1)
		halted := make(chan error, 1)
		go func() { halted <- m.Halt() }()
		select {
		case err := <-halted:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Halt blocked while a key was held")
		}
		for _, n := range fake.Rows {
			if fake.ByName(n).(*gpiotest.Pin).IsOutput() {
				t.Fatalf("row %s still driven after Halt", n)
			}
		}
		fake.Hold('5', false)
	}
}

// TestMatrixHaltStopsScanning: Halt during a scan stops the scanner (no race with
// it: run with -race) and keys pressed afterwards are not delivered.
func TestMatrixHaltStopsScanning(t *testing.T) {
	fake, m, keys := openFastMatrix(t)
	fake.Hold('5', true)
	if got := keys.collect(t, 1); got != "5" {
		t.Fatalf("key %q", got)
	}
	if err := m.Halt(); err != nil {
		t.Fatal(err)
	}
	fake.Hold('5', false)
	time.Sleep(100 * time.Millisecond)
	fake.Hold('7', true)
	keys.none(t, 200*time.Millisecond)
	fake.Hold('7', false)
	for _, n := range fake.Rows {
		if fake.ByName(n).(*gpiotest.Pin).IsOutput() {
			t.Fatalf("row %s still driven after Halt", n)
		}
	}
}

func TestMatrixConfig(t *testing.T) {
	fake := keypadtest.NewMatrix(nil)
	tests := []struct {
		name string
		mod  func(*keypad.MatrixConfig)
	}{
		{"no rows", func(c *keypad.MatrixConfig) { c.Rows = nil }},
		{"pin twice", func(c *keypad.MatrixConfig) { c.Cols = append([]string{c.Rows[0]}, c.Cols[1:]...) }},
		{"layout mismatch", func(c *keypad.MatrixConfig) { c.Layout = [][]keypad.Key{{'1'}} }},
		{"missing pin", func(c *keypad.MatrixConfig) { c.Rows = append(c.Rows[:3:3], "GPIO99") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fake.Config()
			cfg.Logger = quiet
			tt.mod(&cfg)
			if m, err := keypad.OpenMatrix(cfg); err == nil {
				m.Close()
				t.Error("OpenMatrix accepted a bad config")
			}
		})
	}
}

// openManualWiegand opens a Wiegand on fake in which a burst ends when the test
// says (fake.Type ends each key's burst so), closed with the test.
func openManualWiegand(t *testing.T, fake *keypadtest.Wiegand, logger *slog.Logger) (*keypad.Wiegand, *keypad.ManualGap, keySink) {
	t.Helper()
	keys := make(keySink, 64)
	w, gap, err := keypad.OpenWiegandManualGap(keypad.WiegandConfig{D0: "D0", D1: "D1", ByName: fake.ByName, Logger: logger,
		OnKey: func(k keypad.Key) { keys <- k }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	fake.EndBurst = func(ctx context.Context) error { return gap.End(ctx, fake.Sent()) }
	return w, gap, keys
}

// endBurst ends the burst of the bits sent so far, then waits until the
// Wiegand has dealt with it (a second, empty burst end is taken only after).
func endBurst(t *testing.T, ctx context.Context, fake *keypadtest.Wiegand, gap *keypad.ManualGap) {
	t.Helper()
	for range 2 {
		if err := gap.End(ctx, fake.Sent()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWiegand(t *testing.T) {
	tests := []struct {
		name string
		mode int
	}{
		{"4-bit burst mode", 4},
		{"8-bit burst mode", 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := keypadtest.NewWiegand(tt.mode)
			w, gap, keys := openManualWiegand(t, fake, quiet)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			const typed = "4821*33#"
			if err := fake.Type(ctx, typed, 0); err != nil {
				t.Fatal(err)
			}
			if got := keys.collect(t, len(typed)); got != typed {
				t.Errorf("keys %q, want %q", got, typed)
			}
			// A 26-bit card frame is not a key.
			if err := fake.SendBits(ctx, make([]byte, 26)); err != nil {
				t.Fatal(err)
			}
			endBurst(t, ctx, fake, gap)
			keys.none(t, 100*time.Millisecond)
			if st := w.Stats(); st.Keys != uint64(len(typed)) || st.Bad != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestWiegandFrameGap: with the real timer, FrameGap of silence ends a burst and
// bits closer together stay in one. The margins are generous (a burst's bits are
// 2 ms apart, bursts 4 FrameGaps apart) so that a loaded machine does not split
// or join bursts; the pause between bursts is not much longer than needed, or the
// test would not tell a gap that never ends a burst.
func TestWiegandFrameGap(t *testing.T) {
	fake := keypadtest.NewWiegand(4)
	keys := make(keySink, 64)
	const frameGap = 250 * time.Millisecond
	w, err := keypad.OpenWiegand(keypad.WiegandConfig{D0: "D0", D1: "D1", FrameGap: frameGap, ByName: fake.ByName, Logger: quiet,
		OnKey: func(k keypad.Key) { keys <- k }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// "42" joined into one burst would be 8 bits that are no key.
	if err := fake.Type(ctx, "42", 4*frameGap); err != nil {
		t.Fatal(err)
	}
	if got := keys.collect(t, 2); got != "42" {
		t.Errorf("keys %q, want %q", got, "42")
	}
	if st := w.Stats(); st.Keys != 2 || st.Bad != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestWiegandGapWithoutBits: a gap timer firing with no bits taken is no burst
// (found while making these tests deterministic: the idle timer, armed for an
// hour at start, fired on an empty burst and counted it as Bad).
func TestWiegandGapWithoutBits(t *testing.T) {
	fake := keypadtest.NewWiegand(4)
	w, gap, keys := openManualWiegand(t, fake, quiet)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	endBurst(t, ctx, fake, gap)
	if st := w.Stats(); st != (keypad.WiegandStats{}) {
		t.Errorf("stats %+v after an empty gap", st)
	}
	keys.none(t, 10*time.Millisecond)
}

func TestKeysNeverLogged(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	fake := keypadtest.NewWiegand(4)
	w, gap, keys := openManualWiegand(t, fake, logger)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fake.Type(ctx, "97531", 0); err != nil {
		t.Fatal(err)
	}
	if err := fake.SendBits(ctx, []byte{1, 1, 1, 1, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	endBurst(t, ctx, fake, gap)
	keys.collect(t, 5)
	w.Close()
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "bits=7") {
		t.Errorf("the 7-bit burst was not logged:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "97531") || strings.Contains(buf.String(), "key=") {
		t.Errorf("keys in the log:\n%s", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
