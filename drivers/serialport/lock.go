// Package serialport opens a serial device for one process at a time. The kernel's
// exclusive open (TIOCEXCL, which go.bug.st/serial sets) keeps other users out but not
// root, and lockerd and `lockerd hwtest` both run as root on a station: two processes
// driving one RS-485 bus pulse doors under each other. So every open also takes an
// flock on the device node itself, which every process of every user and config sees,
// whatever path (a /dev/serial/by-id link, /dev/ttyUSB0) it came by
// (docs/adr/0054-serial-ports-locked-per-device.md).
package serialport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrInUse means another process has the device open: it holds the device's lock, or
// opened it exclusively.
var ErrInUse = errors.New("serialport: in use")

// InUseError is a device another process has open. It matches ErrInUse.
type InUseError struct {
	Device string // the resolved device path
	Holder string // "pid 812, lockerd"; empty when unknown
	// Exclusive: the kernel refused the open (another program's TIOCEXCL), no lock.
	Exclusive bool
}

func (e *InUseError) Error() string { return "serialport: in use: " + e.Device + " is " + e.By() }

// By says who has the device: "in use by pid 812, lockerd".
func (e *InUseError) By() string {
	switch {
	case e.Exclusive:
		return "opened exclusively by another program"
	case e.Holder == "":
		return "in use by another process"
	}
	return "in use by " + e.Holder
}

// Is makes errors.Is(err, ErrInUse) true.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// Lock is a held lock on a serial device. The device is kept open read-only for the
// lock's lifetime (an flock belongs to an open file), without becoming a controlling
// terminal and without waiting for a carrier.
type Lock struct {
	f      *os.File
	Device string // the resolved device path
}

// Acquire takes path's device lock without waiting. A device another process holds
// fails with an *InUseError, which names the device and, when /proc says so, the
// holder ("pid 812, lockerd").
func Acquire(path string) (*Lock, error) {
	dev, err := filepath.EvalSymlinks(path)
	if err != nil {
		dev = path
	}
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil, &InUseError{Device: dev, Exclusive: true}
		}
		return nil, &os.PathError{Op: "open", Path: dev, Err: err}
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := Holder(fd)
		_ = unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &InUseError{Device: dev, Holder: holder}
		}
		return nil, &os.PathError{Op: "lock", Path: dev, Err: err}
	}
	return &Lock{f: os.NewFile(uintptr(fd), dev), Device: dev}, nil
}

// Release drops the lock. It is safe on a nil Lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Holder names the process holding an flock on the file open at fd, from /proc/locks
// and the holder's /proc/<pid>/comm: "pid 812, lockerd", or "" when it cannot be told
// (no /proc, a holder in another pid namespace).
func Holder(fd int) string {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return ""
	}
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		return ""
	}
	pids := holders(data, unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	if len(pids) == 0 || pids[0] <= 0 {
		return ""
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pids[0]))
	if name := strings.TrimSpace(string(comm)); err == nil && name != "" {
		return fmt.Sprintf("pid %d, %s", pids[0], name)
	}
	return fmt.Sprintf("pid %d", pids[0])
}
