package lockboardtest

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/creack/pty"
	"github.com/lockerd/lockerd/drivers/lockboard"
	"golang.org/x/sys/unix"
)

// Errors returned by a Set.
var (
	// ErrClosed means the Set was closed.
	ErrClosed = errors.New("lockboardtest: closed")
	// ErrUnknownLock means no such board or lock on the Set.
	ErrUnknownLock = errors.New("lockboardtest: unknown lock")
	// ErrPlugged means Replug was called while the Set is plugged in.
	ErrPlugged = errors.New("lockboardtest: already plugged in")
	// ErrNoPTY means the system could not provide a pseudo-terminal.
	ErrNoPTY = errors.New("lockboardtest: no pseudo-terminal")
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
	cfg    Config
	log    *slog.Logger
	link   string
	tmpDir string

	mu      sync.Mutex
	boards  map[int]*board
	policy  Policy
	hook    func(lockboard.Request, []byte) []byte
	cur     *conn // nil while unplugged
	closed  bool
	timers  map[*time.Timer]struct{}
	history []Event
	seq     uint64
	notify  chan struct{} // closed and replaced on every event
	stats   Stats
	serving sync.WaitGroup
}

// Stats counts traffic seen by the Set.
type Stats struct {
	Requests uint64 // valid requests addressed to any board
	Replies  uint64 // replies written
	Garbage  uint64 // request decode errors
	Clients  uint64 // times a client went away and the pty was renewed
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
	s.link = cfg.Link
	if s.link == "" {
		dir, err := os.MkdirTemp("", "lockboardtest-")
		if err != nil {
			return nil, fmt.Errorf("lockboardtest: %w", err)
		}
		s.tmpDir = dir
		s.link = filepath.Join(dir, "tty-"+cfg.Protocol.String())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.plugLocked(); err != nil {
		if s.tmpDir != "" {
			_ = os.RemoveAll(s.tmpDir)
		}
		return nil, err
	}
	return s, nil
}

// Path is the stable symlink the driver should open.
func (s *Set) Path() string { return s.link }

// String describes the Set.
func (s *Set) String() string {
	return fmt.Sprintf("lockboardtest(%s %s, %d boards)", s.cfg.Protocol, s.link, len(s.boards))
}

// conn is one pty pair and the goroutine serving it.
type conn struct {
	master *os.File
	slave  string
	stop   chan struct{}
	done   chan struct{}
}

// plugLocked creates a pty, points the link at its slave and starts serving.
func (s *Set) plugLocked() error {
	m, sl, err := pty.Open()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoPTY, err)
	}
	// Raw from the start: a cooked slave would echo replies back to us.
	if err := makeRaw(int(sl.Fd())); err != nil {
		_ = m.Close()
		_ = sl.Close()
		return fmt.Errorf("lockboardtest: raw mode: %w", err)
	}
	name := sl.Name()
	// Hold no slave descriptor: the master then reads EIO while no client
	// has the slave open, which is how a departed client is noticed.
	_ = sl.Close()
	tmp := s.link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(name, tmp); err != nil {
		_ = m.Close()
		return fmt.Errorf("lockboardtest: link: %w", err)
	}
	if err := os.Rename(tmp, s.link); err != nil {
		_ = m.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("lockboardtest: link: %w", err)
	}
	c := &conn{master: m, slave: name, stop: make(chan struct{}), done: make(chan struct{})}
	s.cur = c
	s.serving.Add(1)
	go s.serve(c)
	s.log.Debug("lockboardtest: plugged in", "link", s.link, "pty", name)
	return nil
}

// unplugLocked stops serving c and closes its master; the caller waits on
// c.done after releasing the lock.
func (s *Set) unplugLocked(c *conn) {
	if s.cur == c {
		s.cur = nil
	}
	close(c.stop)
	_ = c.master.Close()
}

// Unplug closes the pty, as pulling a USB adapter does: the client's port
// fails, and the link disappears until Replug.
func (s *Set) Unplug() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	c := s.cur
	if c == nil {
		s.mu.Unlock()
		return nil
	}
	s.unplugLocked(c)
	_ = os.Remove(s.link)
	s.recordLocked(Event{Kind: EventUnplug})
	s.mu.Unlock()
	<-c.done
	return nil
}

// Replug creates a new pty behind the same link.
func (s *Set) Replug() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.cur != nil {
		return ErrPlugged
	}
	if err := s.plugLocked(); err != nil {
		return err
	}
	s.recordLocked(Event{Kind: EventReplug})
	return nil
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
	if c := s.cur; c != nil {
		s.unplugLocked(c)
	}
	for t := range s.timers {
		t.Stop()
	}
	s.timers = nil
	close(s.notify)
	s.mu.Unlock()
	s.serving.Wait()
	_ = os.Remove(s.link)
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
	return nil
}

// Stats returns traffic counters.
func (s *Set) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
