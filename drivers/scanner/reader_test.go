package scanner_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/scanner"
	"github.com/lockerd/lockerd/drivers/scanner/scannertest"
	"github.com/lockerd/lockerd/internal/canary"
	"github.com/lockerd/lockerd/internal/testenv"
)

const waitLimit = 5 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type sink struct {
	scans  chan scanner.Scan
	health chan scanner.Health
}

func newSink() *sink {
	return &sink{scans: make(chan scanner.Scan, 256), health: make(chan scanner.Health, 256)}
}

func (s *sink) scan(t testing.TB) scanner.Scan {
	t.Helper()
	select {
	case sc := <-s.scans:
		return sc
	case <-time.After(waitLimit):
		t.Fatal("no scan")
		return scanner.Scan{}
	}
}

func (s *sink) waitHealth(t testing.TB, ok bool) scanner.Health {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case h := <-s.health:
			if h.OK == ok {
				return h
			}
		case <-deadline:
			t.Fatalf("no health report with OK=%v", ok)
			return scanner.Health{}
		}
	}
}

func (s *sink) noScan(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case sc := <-s.scans:
		t.Fatalf("unexpected scan of %d bytes", len(sc.Code))
	case <-time.After(d):
	}
}

func startReader(t testing.TB, path string, logger *slog.Logger) (*scanner.Reader, *sink) {
	t.Helper()
	s := newSink()
	r, err := scanner.Open(scanner.Config{
		Path:       path,
		OnScan:     func(sc scanner.Scan) { s.scans <- sc },
		OnHealth:   func(h scanner.Health) { s.health <- h },
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond,
		Logger:     logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	s.waitHealth(t, true)
	return r, s
}

func TestReaderSuffixes(t *testing.T) {
	tests := []struct {
		name   string
		suffix string
		prefix string
		code   string
		sym    string
	}{
		{"CR", scannertest.SuffixCR, "", "RB123456785GB", ""},
		{"CRLF", scannertest.SuffixCRLF, "", "123456789012", ""},
		{"LF", scannertest.SuffixLF, "", "SF1234567890123", ""},
		{"no suffix", scannertest.SuffixNone, "", "773012345678901", ""},
		{"AIM prefix, GS1 data", scannertest.SuffixCR, "]C1", "00012345678905\x1d4201234", "]C1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := scannertest.Start(t, scannertest.Config{Suffix: tt.suffix, Prefix: tt.prefix, Logger: quiet})
			_, s := startReader(t, sc.Path(), quiet)
			if err := sc.Type(tt.code); err != nil {
				t.Fatal(err)
			}
			got := s.scan(t)
			if string(got.Code) != tt.code || got.Symbology != tt.sym {
				t.Errorf("scan %q %q, want %q %q", got.Code, got.Symbology, tt.code, tt.sym)
			}
		})
	}
}

func TestReaderSlowTypingAndJunk(t *testing.T) {
	sc := scannertest.Start(t, scannertest.Config{Suffix: scannertest.SuffixCR, Logger: quiet})
	r, s := startReader(t, sc.Path(), quiet)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := sc.TypeSlowly(ctx, "SLOW123", 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := s.scan(t); string(got.Code) != "SLOW123" {
		t.Errorf("slow scan %q", got.Code)
	}
	if err := sc.TypeRaw(bytes.Repeat([]byte{'7'}, 10*1024)); err != nil {
		t.Fatal(err)
	}
	if err := sc.TypeRaw([]byte("\rAFTER1\r")); err != nil {
		t.Fatal(err)
	}
	if got := s.scan(t); string(got.Code) != "AFTER1" {
		t.Errorf("scan after junk %q", got.Code)
	}
	if st := r.Stats(); st.TooLong != 1 || st.Bytes < 10*1024 {
		t.Errorf("stats %+v: want one over-long line counted", st)
	}
	// The same code again at once is a repeat.
	if err := sc.Type("AFTER1"); err != nil {
		t.Fatal(err)
	}
	s.noScan(t, 150*time.Millisecond)
}

func TestReaderReconnects(t *testing.T) {
	sc := scannertest.Start(t, scannertest.Config{Suffix: scannertest.SuffixCR, Logger: quiet})
	r, s := startReader(t, sc.Path(), quiet)
	if err := sc.Unplug(); err != nil {
		t.Fatal(err)
	}
	if h := s.waitHealth(t, false); h.Reason == "" {
		t.Error("unplug reported without a reason")
	}
	if err := sc.Type("LOST"); !errors.Is(err, scannertest.ErrUnplugged) {
		t.Errorf("Type while unplugged = %v", err)
	}
	if err := sc.Replug(); err != nil {
		t.Fatal(err)
	}
	s.waitHealth(t, true)
	if err := sc.Type("BACK1"); err != nil {
		t.Fatal(err)
	}
	if got := s.scan(t); string(got.Code) != "BACK1" {
		t.Errorf("scan after replug %q", got.Code)
	}
	if st := r.Stats(); st.Reopens < 2 {
		t.Errorf("Reopens = %d, want at least 2", st.Reopens)
	}
}

func TestSeveralScanners(t *testing.T) {
	const n = 3
	var wg sync.WaitGroup
	for i := range n {
		sc := scannertest.Start(t, scannertest.Config{Suffix: scannertest.SuffixCRLF, Logger: quiet})
		_, s := startReader(t, sc.Path(), quiet)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				code := fmt.Sprintf("S%dC%d", i, j)
				if err := sc.Type(code); err != nil {
					t.Error(err)
					return
				}
				select {
				case got := <-s.scans:
					if string(got.Code) != code {
						t.Errorf("scanner %d: got %q, want %q", i, got.Code, code)
					}
				case <-time.After(waitLimit):
					t.Errorf("scanner %d: no scan %d", i, j)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestScanContentsNeverLogged(t *testing.T) {
	var buf testenv.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sc := scannertest.Start(t, scannertest.Config{Suffix: scannertest.SuffixCR, Logger: quiet})
	r, s := startReader(t, sc.Path(), logger)
	const code = "CANARY9876543210"
	if err := sc.Type(code); err != nil {
		t.Fatal(err)
	}
	s.scan(t)
	if err := sc.Unplug(); err != nil {
		t.Fatal(err)
	}
	s.waitHealth(t, false)
	_ = r.Close()
	h, err := canary.New(map[string]string{"scan": code})
	if err != nil {
		t.Fatal(err)
	}
	var log canary.Record
	log.Add("reader log", []byte(buf.String()))
	surface := log.Surface("reader log", canary.KindLog)
	surface.Expect = []string{"len=16"} // the log carries the length and not the code
	if err := h.Register(surface); err != nil {
		t.Fatal(err)
	}
	h.Check(t)
}

func TestReaderConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  scanner.Config
	}{
		{"no path", scanner.Config{}},
		{"negative baud", scanner.Config{Path: "/dev/null", BaudRate: -1}},
		{"backoff inverted", scanner.Config{Path: "/dev/null", MinBackoff: time.Second, MaxBackoff: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := scanner.Open(tt.cfg); !errors.Is(err, scanner.ErrConfig) {
				t.Errorf("Open = %v, want ErrConfig", err)
			}
		})
	}
}
