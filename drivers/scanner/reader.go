package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockerd/lockerd/drivers/internal/queue"
	"github.com/lockerd/lockerd/drivers/serialport"
	"go.bug.st/serial"
	"periph.io/x/conn/v3"
)

// Reader defaults.
const (
	DefaultBaudRate   = 9600
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	// idleRead bounds a read while no line is pending, so Close is noticed.
	idleRead = 500 * time.Millisecond
)

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("scanner: bad config")

// Config configures a Reader.
type Config struct {
	// Path is the serial device, preferably a stable /dev/serial/by-id link:
	// the Reader reopens it by this path after an unplug.
	Path     string
	BaudRate int // default 9600 (USB CDC scanners ignore it)
	Framer   FramerConfig
	// OnScan and OnHealth are called in order from one goroutine owned by
	// the Reader. Scan.Code is not retained by the Reader.
	OnScan     func(Scan)
	OnHealth   func(Health)
	MinBackoff time.Duration // first reopen delay; default 100 ms
	MaxBackoff time.Duration // reopen delay ceiling; default 5 s
	Logger     *slog.Logger
}

// Health says whether the scanner's port is open.
type Health struct {
	OK     bool
	Reason string // why not OK
	Since  time.Time
}

// Stats counts a Reader's activity.
type Stats struct {
	FramerStats
	Bytes   uint64 // bytes read
	Reopens uint64 // times the port was (re)opened
}

var _ conn.Resource = (*Reader)(nil)

// Reader reads scans from one serial scanner. Run one per scanner.
type Reader struct {
	cfg    Config
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	events *queue.Queue[any]
	halt   atomic.Bool

	mu     sync.Mutex
	health Health
	stats  Stats
}

// Open validates cfg and starts reading in the background: a missing
// device is a health fault that is retried, not an error here.
func Open(cfg Config) (*Reader, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("%w: no serial path", ErrConfig)
	}
	if cfg.BaudRate < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 || cfg.Framer.MaxLen < 0 {
		return nil, fmt.Errorf("%w: negative setting", ErrConfig)
	}
	if cfg.BaudRate == 0 {
		cfg.BaudRate = DefaultBaudRate
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MinBackoff > cfg.MaxBackoff {
		return nil, fmt.Errorf("%w: backoff %v-%v", ErrConfig, cfg.MinBackoff, cfg.MaxBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Reader{
		cfg:    cfg,
		log:    cfg.Logger.With("scanner", cfg.Path),
		cancel: cancel,
		done:   make(chan struct{}),
		health: Health{Reason: "port not opened yet", Since: time.Now()},
	}
	r.events = queue.New(r.deliver)
	go r.run(ctx)
	return r, nil
}

func (r *Reader) deliver(v any) {
	switch e := v.(type) {
	case Scan:
		if r.cfg.OnScan != nil {
			r.cfg.OnScan(e)
		}
	case Health:
		if r.cfg.OnHealth != nil {
			r.cfg.OnHealth(e)
		}
	}
}

// String describes the Reader, periph-style.
func (r *Reader) String() string { return "scanner(" + r.cfg.Path + ")" }

// Close stops reading, closes the port and waits for the Reader's
// goroutines. It must not be called from a callback.
func (r *Reader) Close() error {
	r.cancel()
	<-r.done
	r.events.Close()
	return nil
}

// Halt discards scans not yet delivered and any partly read line. The
// Reader keeps reading.
func (r *Reader) Halt() error {
	r.halt.Store(true)
	r.events.Discard()
	return nil
}

// Health returns the current health.
func (r *Reader) Health() Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.health
}

// Stats returns the counters.
func (r *Reader) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *Reader) setHealth(ok bool, reason string) {
	r.mu.Lock()
	if r.health.OK == ok && r.health.Reason == reason {
		r.mu.Unlock()
		return
	}
	h := Health{OK: ok, Reason: reason, Since: time.Now()}
	r.health = h
	r.mu.Unlock()
	if ok {
		r.log.Info("scanner: port open")
	} else {
		r.log.Warn("scanner: port down", "reason", reason)
	}
	r.events.Post(h)
}

func (r *Reader) run(ctx context.Context) {
	defer close(r.done)
	f := NewFramer(r.cfg.Framer)
	buf := make([]byte, 256)
	backoff := r.cfg.MinBackoff
	var port serial.Port
	defer func() {
		if port != nil {
			_ = port.Close()
		}
	}()
	for ctx.Err() == nil {
		if port == nil {
			p, err := r.open()
			if err != nil {
				r.setHealth(false, err.Error())
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(backoff*2, r.cfg.MaxBackoff)
				continue
			}
			port = p
			f.Reset()
			r.setHealth(true, "")
		}
		timeout := idleRead
		if d, ok := f.Deadline(); ok {
			timeout = max(time.Until(d), time.Millisecond)
		}
		err := port.SetReadTimeout(timeout)
		n := 0
		if err == nil {
			n, err = port.Read(buf)
		}
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.lost(&port, f, fmt.Errorf("scanner: read %s: %w", r.cfg.Path, err))
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, r.cfg.MaxBackoff)
			continue
		}
		backoff = r.cfg.MinBackoff
		if r.halt.Swap(false) {
			f.Reset()
		}
		var scans []Scan
		if n == 0 {
			scans = f.Flush(now) // go.bug.st/serial reports a timeout as (0, nil)
		} else {
			scans = f.Feed(now, buf[:n])
			clear(buf[:n])
		}
		r.mu.Lock()
		r.stats.Bytes += uint64(n)
		r.stats.FramerStats = f.Stats()
		r.mu.Unlock()
		for _, s := range scans {
			r.log.Debug("scanner: scan", "len", len(s.Code), "symbology", s.Symbology)
			r.events.Post(s)
		}
	}
}

// lost closes a failed port; the loop reopens it by path. A partly read
// line is dropped: half a code is not a code.
func (r *Reader) lost(port *serial.Port, f *Framer, err error) {
	_ = (*port).Close()
	*port = nil
	f.Reset()
	r.setHealth(false, err.Error())
}

func (r *Reader) open() (serial.Port, error) {
	// The device lock keeps a second process (hwtest beside lockerd, even as root) off
	// the port (docs/adr/0054-serial-ports-locked-per-device.md).
	p, err := serialport.Open(r.cfg.Path, &serial.Mode{
		BaudRate: r.cfg.BaudRate, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit,
	})
	if err != nil {
		return nil, fmt.Errorf("scanner: open %s: %w", r.cfg.Path, err)
	}
	// Drop scans buffered before we opened: a stale scan must not act now.
	_ = p.ResetInputBuffer()
	r.mu.Lock()
	r.stats.Reopens++
	r.mu.Unlock()
	return p, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
