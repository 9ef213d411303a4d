package keypad

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lockerd/lockerd/drivers/internal/queue"
	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
)

// WiegandConfig configures a Wiegand keypad on two GPIO inputs. D0 pulses
// low for a 0 bit, D1 for a 1 bit (about 50 µs each, 1-2 ms apart).
type WiegandConfig struct {
	D0, D1 string // pin names
	// FrameGap ends a burst after this much silence; default 15 ms.
	FrameGap time.Duration
	ByName   func(string) gpio.PinIO // default gpioreg.ByName
	OnKey    func(Key)               // in order, from a goroutine the Wiegand owns
	Logger   *slog.Logger
}

// WiegandStats counts bursts.
type WiegandStats struct {
	Keys uint64 // bursts decoded to a key
	Bad  uint64 // bursts that were not a 4- or 8-bit key (cards, noise, lost bits)
}

var _ conn.Resource = (*Wiegand)(nil)

// Wiegand reads a Wiegand keypad in 4-bit or 8-bit burst mode; each burst
// is one key. Bits are ordered by when their edges were noticed, one
// goroutine per line; this relies on the 1-2 ms bit spacing of Wiegand
// keypads being far above goroutine wake-up latency.
type Wiegand struct {
	cfg    WiegandConfig
	d0, d1 gpio.PinIO
	bits   chan byte
	events *queue.Queue[Key]
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// newGap makes run's frame-gap timer; tests replace it (export_test.go)
	// to end bursts when they choose instead of after FrameGap.
	newGap func() gapTimer

	mu    sync.Mutex
	stats WiegandStats
}

// gapTimer is the timer that ends a burst; *time.Timer in production.
type gapTimer interface {
	C() <-chan time.Time
	Reset(time.Duration)
	Stop()
}

type realGap struct{ *time.Timer }

func (g realGap) C() <-chan time.Time   { return g.Timer.C }
func (g realGap) Reset(d time.Duration) { g.Timer.Reset(d) }
func (g realGap) Stop()                 { g.Timer.Stop() }

// OpenWiegand sets up both lines (inputs with pull-ups, falling edges) and
// starts reading.
func OpenWiegand(cfg WiegandConfig) (*Wiegand, error) {
	return openWiegand(cfg, func() gapTimer { return realGap{time.NewTimer(time.Hour)} })
}

func openWiegand(cfg WiegandConfig, newGap func() gapTimer) (*Wiegand, error) {
	if cfg.D0 == "" || cfg.D1 == "" || cfg.D0 == cfg.D1 {
		return nil, fmt.Errorf("%w: wiegand lines %q and %q", ErrConfig, cfg.D0, cfg.D1)
	}
	if cfg.FrameGap <= 0 {
		cfg.FrameGap = 15 * time.Millisecond
	}
	if cfg.ByName == nil {
		cfg.ByName = gpioreg.ByName
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	w := &Wiegand{cfg: cfg, bits: make(chan byte, 64), newGap: newGap}
	for i, n := range []string{cfg.D0, cfg.D1} {
		p := cfg.ByName(n)
		if p == nil {
			return nil, fmt.Errorf("keypad: wiegand D%d pin %s not found", i, n)
		}
		if err := p.In(gpio.PullUp, gpio.FallingEdge); err != nil {
			return nil, fmt.Errorf("keypad: wiegand D%d pin %s: %w", i, n, err)
		}
		if i == 0 {
			w.d0 = p
		} else {
			w.d1 = p
		}
	}
	w.events = queue.New(func(k Key) {
		if cfg.OnKey != nil {
			cfg.OnKey(k)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(3)
	go w.line(ctx, w.d0, 0)
	go w.line(ctx, w.d1, 1)
	go w.run(ctx)
	return w, nil
}

// String describes the keypad.
func (w *Wiegand) String() string { return "keypad.Wiegand(" + w.cfg.D0 + "," + w.cfg.D1 + ")" }

// Halt has nothing to de-energise: Wiegand lines are inputs.
func (w *Wiegand) Halt() error { return nil }

// Stats returns the counters.
func (w *Wiegand) Stats() WiegandStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Close stops reading and waits for the goroutines.
func (w *Wiegand) Close() error {
	w.cancel()
	_ = w.d0.Halt()
	_ = w.d1.Halt()
	w.wg.Wait()
	w.events.Close()
	return nil
}

func (w *Wiegand) line(ctx context.Context, p gpio.PinIO, bit byte) {
	defer w.wg.Done()
	for ctx.Err() == nil {
		if p.WaitForEdge(time.Second) {
			select {
			case w.bits <- bit:
			case <-ctx.Done():
				return
			}
		}
	}
}

// run collects bits into bursts separated by FrameGap of silence.
func (w *Wiegand) run(ctx context.Context) {
	defer w.wg.Done()
	var burst []byte
	gap := w.newGap()
	defer gap.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-w.bits:
			if len(burst) < 64 {
				burst = append(burst, b)
			}
			gap.Reset(w.cfg.FrameGap)
		case <-gap.C():
			if len(burst) == 0 {
				continue // the idle timer set at start, not the end of a burst
			}
			k, err := DecodeWiegand(burst)
			n := len(burst)
			clear(burst)
			burst = burst[:0]
			w.mu.Lock()
			if err != nil {
				w.stats.Bad++
			} else {
				w.stats.Keys++
			}
			w.mu.Unlock()
			if err != nil {
				w.cfg.Logger.Debug("keypad: wiegand burst dropped", "bits", n)
				continue
			}
			w.events.Post(k)
		}
	}
}
