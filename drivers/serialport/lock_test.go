package serialport_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"go.bug.st/serial"

	"github.com/lockerd/lockerd/drivers/internal/vpty"
	"github.com/lockerd/lockerd/drivers/serialport"
)

func device(t *testing.T) *vpty.Device {
	t.Helper()
	d, err := vpty.Open(vpty.Config{OnData: func(*vpty.Conn, []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

var mode = &serial.Mode{BaudRate: 9600}

// TestSecondOpenIsRefused: while one open holds a pty's lock, a second open of the
// same device, by its link or by its resolved path, fails with ErrInUse naming the
// device and this process; once the first is closed, the device opens again.
func TestSecondOpenIsRefused(t *testing.T) {
	d := device(t)
	first, err := serialport.Open(d.Path(), mode)
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := os.Readlink(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{d.Path(), resolved} {
		_, err := serialport.Open(path, mode)
		if !errors.Is(err, serialport.ErrInUse) {
			t.Fatalf("second open of %s = %v, want ErrInUse", path, err)
		}
		if !strings.Contains(err.Error(), resolved) {
			t.Errorf("error %q does not name the device %s", err, resolved)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := serialport.Open(d.Path(), mode)
	if err != nil {
		t.Fatalf("open after the first closed: %v", err)
	}
	_ = again.Close()
}

// TestAcquireNamesTheHolder: a lock held by a Lock (as the kernel's exclusive open
// would not stop root) is reported with its holder's pid and command.
func TestAcquireNamesTheHolder(t *testing.T) {
	d := device(t)
	l, err := serialport.Acquire(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	_, err = serialport.Acquire(d.Path())
	if !errors.Is(err, serialport.ErrInUse) {
		t.Fatalf("Acquire = %v, want ErrInUse", err)
	}
	comm, _ := os.ReadFile("/proc/self/comm")
	want := "pid " + itoa(os.Getpid()) + ", " + strings.TrimSpace(string(comm))
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the holder %q", err, want)
	}
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}
