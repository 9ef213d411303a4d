package vpty_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/internal/vpty"
	"go.bug.st/serial"
)

const waitLimit = 5 * time.Second

func open(t *testing.T, cfg vpty.Config) *vpty.Device {
	t.Helper()
	cfg.Link = filepath.Join(t.TempDir(), "tty")
	return vpty.Start(t, "vpty", func() (*vpty.Device, error) { return vpty.Open(cfg) })
}

func readN(t *testing.T, p serial.Port, n int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 64)
	deadline := time.Now().Add(waitLimit)
	for len(got) < n && time.Now().Before(deadline) {
		_ = p.SetReadTimeout(time.Until(deadline))
		k, err := p.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, buf[:k]...)
	}
	return got
}

func TestEchoUnplugReplugDisconnect(t *testing.T) {
	events := make(chan vpty.Event, 16)
	d := open(t, vpty.Config{
		OnData:  func(c *vpty.Conn, b []byte) { _, _ = c.Write(bytes.ToUpper(b)) },
		OnEvent: func(e vpty.Event) { events <- e },
	})
	expect := func(want vpty.Event) {
		t.Helper()
		select {
		case e := <-events:
			if e != want {
				t.Fatalf("event %d, want %d", e, want)
			}
		case <-time.After(waitLimit):
			t.Fatalf("no event %d", want)
		}
	}
	p, err := serial.Open(d.Path(), &serial.Mode{BaudRate: 9600})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, p, 3); string(got) != "ABC" {
		t.Errorf("echo %q, want ABC", got)
	}
	_ = p.Close()
	expect(vpty.EventDisconnect)

	p, err = serial.Open(d.Path(), &serial.Mode{BaudRate: 9600})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := d.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, p, 2); string(got) != "hi" {
		t.Errorf("device write %q, want hi", got)
	}
	if err := d.Unplug(); err != nil {
		t.Fatal(err)
	}
	expect(vpty.EventUnplug)
	if _, err := d.Write([]byte("x")); !errors.Is(err, vpty.ErrUnplugged) {
		t.Errorf("Write while unplugged = %v", err)
	}
	if err := d.Replug(); err != nil {
		t.Fatal(err)
	}
	expect(vpty.EventReplug)
	if err := d.Replug(); !errors.Is(err, vpty.ErrPlugged) {
		t.Errorf("second Replug = %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Unplug(); !errors.Is(err, vpty.ErrClosed) {
		t.Errorf("Unplug after Close = %v", err)
	}
}

// TestTemporaryLink: without a Link the device makes its own temporary directory
// for it, named TempName, and Close removes the directory.
func TestTemporaryLink(t *testing.T) {
	d := vpty.Start(t, "vpty", func() (*vpty.Device, error) { return vpty.Open(vpty.Config{TempName: "tty-x"}) })
	if filepath.Base(d.Path()) != "tty-x" {
		t.Fatalf("link %s, want one named tty-x", d.Path())
	}
	dir := filepath.Dir(d.Path())
	if _, err := os.Lstat(d.Path()); err != nil {
		t.Fatalf("no link: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the temporary directory outlived Close: %v", err)
	}
}
