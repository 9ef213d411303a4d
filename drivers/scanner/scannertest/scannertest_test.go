package scannertest_test

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/scanner/scannertest"
	"go.bug.st/serial"
)

func TestTypeReachesThePort(t *testing.T) {
	tests := []struct {
		name, prefix, suffix, code, want string
	}{
		{"CR", "", scannertest.SuffixCR, "ABC", "ABC\r"},
		{"AIM and CRLF", "]Q1", scannertest.SuffixCRLF, "xyz", "]Q1xyz\r\n"},
		{"bare", "", scannertest.SuffixNone, "123", "123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := scannertest.Start(t, scannertest.Config{Prefix: tt.prefix, Suffix: tt.suffix,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			p, err := serial.Open(s.Path(), &serial.Mode{BaudRate: 9600})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := s.Type(tt.code); err != nil {
				t.Fatal(err)
			}
			var got []byte
			buf := make([]byte, 32)
			deadline := time.Now().Add(5 * time.Second)
			for len(got) < len(tt.want) && time.Now().Before(deadline) {
				_ = p.SetReadTimeout(time.Until(deadline))
				n, err := p.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, buf[:n]...)
			}
			if string(got) != tt.want || s.Typed() != 1 {
				t.Errorf("port read %q (typed %d), want %q", got, s.Typed(), tt.want)
			}
		})
	}
}

func TestUnplugAndClose(t *testing.T) {
	s := scannertest.Start(t, scannertest.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Unplug(); err != nil {
		t.Fatal(err)
	}
	if err := s.Type("X"); !errors.Is(err, scannertest.ErrUnplugged) {
		t.Errorf("Type while unplugged = %v", err)
	}
	if err := s.Replug(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.Path()); !os.IsNotExist(err) {
		t.Errorf("link left after Close: %v", err)
	}
	if err := s.Replug(); !errors.Is(err, scannertest.ErrClosed) {
		t.Errorf("Replug after Close = %v", err)
	}
}
