// Package scannertest is a virtual barcode scanner on a pseudo-terminal:
// the real scanner.Reader opens its Path with go.bug.st/serial and reads
// what the test "types". It is shared by tests and the simulator.
package scannertest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/internal/vpty"
)

// Errors returned by a Scanner.
var (
	// ErrUnplugged means the scanner is unplugged; nothing was typed.
	ErrUnplugged = vpty.ErrUnplugged
	// ErrNoPTY means the system could not provide a pseudo-terminal.
	ErrNoPTY = vpty.ErrNoPTY
	// ErrClosed means the scanner was closed.
	ErrClosed = vpty.ErrClosed
)

// Common suffixes a scanner appends to each code.
const (
	SuffixCR   = "\r"
	SuffixCRLF = "\r\n"
	SuffixLF   = "\n"
	SuffixNone = ""
)

// Config configures a virtual scanner.
type Config struct {
	// Link is the stable path of the symlink to the pty slave. Empty: a new
	// temporary directory, removed by Close.
	Link   string
	Suffix string // appended to every code; SuffixCR is typical
	Prefix string // prepended, e.g. an AIM identifier "]C1"; usually empty
	Logger *slog.Logger
}

// Scanner is a virtual scanner. It is safe for concurrent use.
type Scanner struct {
	cfg Config
	dev *vpty.Device

	mu    sync.Mutex
	typed int
}

// New creates the scanner and plugs it in.
func New(cfg Config) (*Scanner, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Scanner{cfg: cfg}
	dev, err := vpty.Open(vpty.Config{Link: cfg.Link, TempName: "tty-scanner", Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("scannertest: %w", err)
	}
	s.dev, s.cfg.Link = dev, dev.Path()
	return s, nil
}

// Start creates a Scanner for a test, closed by tb.Cleanup, with its link in
// tb.TempDir() unless cfg.Link is set. Without a pseudo-terminal the test
// fails under CI=true and is skipped otherwise (vpty.Start).
func Start(tb testing.TB, cfg Config) *Scanner {
	tb.Helper()
	if cfg.Link == "" {
		cfg.Link = filepath.Join(tb.TempDir(), "tty-scanner")
	}
	return vpty.Start(tb, "virtual scanner", func() (*Scanner, error) { return New(cfg) })
}

// Path is the stable link the Reader should open.
func (s *Scanner) Path() string { return s.cfg.Link }

// String describes the scanner.
func (s *Scanner) String() string { return "scannertest(" + s.cfg.Link + ")" }

// Type sends prefix + code + suffix in one write, as a scanner's USB
// packet does.
func (s *Scanner) Type(code string) error {
	return s.write([]byte(s.cfg.Prefix + code + s.cfg.Suffix))
}

// TypeRaw sends b unchanged: garbage, a 10 kB line, half a code.
func (s *Scanner) TypeRaw(b []byte) error { return s.write(b) }

// TypeSlowly sends prefix + code + suffix one byte at a time, gap apart,
// as a slow RS-232 scanner does.
func (s *Scanner) TypeSlowly(ctx context.Context, code string, gap time.Duration) error {
	for _, c := range []byte(s.cfg.Prefix + code + s.cfg.Suffix) {
		if err := s.write([]byte{c}); err != nil {
			return err
		}
		t := time.NewTimer(gap)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("scannertest: typing: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

func (s *Scanner) write(b []byte) error {
	if _, err := s.dev.Write(b); err != nil {
		return fmt.Errorf("scannertest: %w", err)
	}
	s.mu.Lock()
	s.typed++
	s.mu.Unlock()
	return nil
}

// Typed counts successful writes.
func (s *Scanner) Typed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.typed
}

// Unplug closes the pty: the Reader's port fails and the link disappears.
func (s *Scanner) Unplug() error {
	if err := s.dev.Unplug(); err != nil {
		return fmt.Errorf("scannertest: %w", err)
	}
	return nil
}

// Replug creates a new pty behind the same link.
func (s *Scanner) Replug() error {
	if err := s.dev.Replug(); err != nil {
		return fmt.Errorf("scannertest: %w", err)
	}
	return nil
}

// Close unplugs the scanner for good and removes its link.
func (s *Scanner) Close() error { return s.dev.Close() }
