// Package lockboardtest is a set of virtual lock-control boards that speak
// the real CU16 or 8A/80 byte protocol on a pseudo-terminal.
//
// A Set owns a pty master and publishes the slave under a stable symlink
// (Path), the way udev publishes /dev/serial/by-id links, so the real
// lockboard driver opens it with go.bug.st/serial exactly as it opens
// hardware. Tests, the simulator and crash-test harnesses use it: it keeps
// per-lock latch and door state, runs a Policy for what a person does after
// an unlock (open and close the door, or find the lock jammed), accepts
// forced door changes, records a History of events, and can be unplugged and
// replugged. When the program on the other end dies (even by SIGKILL) the
// Set survives and serves the next one (see drivers/internal/vpty).
package lockboardtest

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/internal/vpty"
	"github.com/lockerd/lockerd/drivers/lockboard"
)

// Errors returned by a Set.
var (
	// ErrClosed means the Set was closed.
	ErrClosed = errors.New("lockboardtest: closed")
	// ErrUnknownLock means no such board or lock on the Set.
	ErrUnknownLock = errors.New("lockboardtest: unknown lock")
	// ErrPlugged means Replug was called while the Set is plugged in.
	ErrPlugged = vpty.ErrPlugged
	// ErrNoPTY means the system could not provide a pseudo-terminal.
	ErrNoPTY = vpty.ErrNoPTY
)

// BoardSpec describes one virtual board.
type BoardSpec struct {
	Addr           int
	Locks          int                // 0: the protocol maximum
	Polarity       lockboard.Polarity // how lock bits are encoded
	DoorSensors    bool               // CU16: report doors on the sensor inputs
	SensorPolarity lockboard.Polarity
}

// Config configures a Set.
type Config struct {
	Protocol lockboard.Protocol
	Boards   []BoardSpec
	// Link is the stable path of the symlink to the pty slave. Empty: a new
	// temporary directory, removed by Close.
	Link string
	// Person decides what happens after each unlock; nil is Stay.
	Person Policy
	// ReplyDelay is the board's think time before a reply; default 2 ms.
	ReplyDelay time.Duration
	// HistoryLimit caps the kept history; default 10000 events.
	HistoryLimit int
	Logger       *slog.Logger
}

// Set is a bus of virtual boards on one pty. It is safe for concurrent use.
type Set struct {
	cfg  Config
	log  *slog.Logger
	link string

	mu      sync.Mutex
	boards  map[int]*board
	policy  Policy
	hook    func(lockboard.Request, []byte) []byte
	dev     *vpty.Device
	closed  bool
	timers  map[*time.Timer]struct{}
	history []Event
	seq     uint64
	notify  chan struct{} // closed and replaced on every event
	stats   Stats
	pending []byte // request bytes not yet forming a frame
}

// Stats counts traffic seen by the Set.
type Stats struct {
	Requests uint64 // valid requests addressed to any board
	Replies  uint64 // replies written
	Garbage  uint64 // request decode errors
	Clients  uint64 // times the last client closed the port or died
}

// New creates the boards and plugs them in: Path is ready when it returns.
func New(cfg Config) (*Set, error) {
	if cfg.Protocol != lockboard.ProtocolCU16 && cfg.Protocol != lockboard.Protocol8A {
		return nil, fmt.Errorf("lockboardtest: unknown protocol %d", int(cfg.Protocol))
	}
	if cfg.ReplyDelay == 0 {
		cfg.ReplyDelay = 2 * time.Millisecond
	}
	if cfg.HistoryLimit <= 0 {
		cfg.HistoryLimit = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Person == nil {
		cfg.Person = Stay()
	}
	s := &Set{
		cfg:    cfg,
		log:    cfg.Logger.With("virtual", cfg.Protocol.String()),
		boards: make(map[int]*board),
		policy: cfg.Person,
		timers: make(map[*time.Timer]struct{}),
		notify: make(chan struct{}),
	}
	lo, hi := cfg.Protocol.BoardRange()
	for _, b := range cfg.Boards {
		if b.Locks == 0 {
			b.Locks = cfg.Protocol.MaxLocks()
		}
		if b.Addr < lo || b.Addr > hi || b.Locks < 1 || b.Locks > cfg.Protocol.MaxLocks() || s.boards[b.Addr] != nil {
			return nil, fmt.Errorf("lockboardtest: bad or duplicate board %d with %d locks", b.Addr, b.Locks)
		}
		s.boards[b.Addr] = newBoard(b)
	}
	dev, err := vpty.Open(vpty.Config{Link: cfg.Link, TempName: "tty-" + cfg.Protocol.String(),
		OnData: s.handle, OnEvent: s.onDevice, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("lockboardtest: %w", err)
	}
	s.dev, s.link = dev, dev.Path()
	return s, nil
}

// Path is the stable symlink the driver should open.
func (s *Set) Path() string { return s.link }

// String describes the Set.
func (s *Set) String() string {
	return fmt.Sprintf("lockboardtest(%s %s, %d boards)", s.cfg.Protocol, s.link, len(s.boards))
}

func (s *Set) onDevice(e vpty.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e {
	case vpty.EventUnplug:
		s.recordLocked(Event{Kind: EventUnplug})
	case vpty.EventReplug:
		s.recordLocked(Event{Kind: EventReplug})
	case vpty.EventDisconnect:
		s.stats.Clients++
		s.pending = nil
		s.recordLocked(Event{Kind: EventDisconnect})
	}
}

// Unplug closes the pty, as pulling a USB adapter does: the client's port
// fails, and the link disappears until Replug.
func (s *Set) Unplug() error {
	if err := s.dev.Unplug(); err != nil {
		return fmt.Errorf("lockboardtest: %w", mapClosed(err))
	}
	s.mu.Lock()
	s.pending = nil
	s.mu.Unlock()
	return nil
}

// Replug creates a new pty behind the same link.
func (s *Set) Replug() error {
	if err := s.dev.Replug(); err != nil {
		return fmt.Errorf("lockboardtest: %w", mapClosed(err))
	}
	return nil
}

func mapClosed(err error) error {
	if errors.Is(err, vpty.ErrClosed) {
		return ErrClosed
	}
	return err
}

// Close unplugs the boards, stops pending person actions and removes the
// link (and the temporary directory, if the Set made one).
func (s *Set) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for t := range s.timers {
		t.Stop()
	}
	s.timers = nil
	close(s.notify)
	s.mu.Unlock()
	return s.dev.Close()
}

// Stats returns traffic counters.
func (s *Set) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Start creates a Set for a test, closed by tb.Cleanup, with its link in
// tb.TempDir() unless cfg.Link is set. If no pseudo-terminal can be opened
// the test fails under CI=true and is skipped otherwise (vpty.Start).
func Start(tb testing.TB, cfg Config) *Set {
	tb.Helper()
	if cfg.Link == "" {
		cfg.Link = filepath.Join(tb.TempDir(), "tty-"+cfg.Protocol.String())
	}
	return vpty.Start(tb, "virtual lock boards", func() (*Set, error) { return New(cfg) })
}
