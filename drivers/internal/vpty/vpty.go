// Package vpty is a virtual serial device: a pseudo-terminal master owned by
// the device, its slave published under a stable symlink (as udev publishes
// /dev/serial/by-id links), so that drivers open it with go.bug.st/serial
// exactly as they open hardware. The virtual lock boards and scanners are
// built on it.
//
// A Device can be unplugged and replugged (a new pty behind the same link),
// and it outlives its clients: when one dies without closing its port (a
// SIGKILLed daemon), the device clears the exclusive-open flag it left, or
// renews the pty behind the link if it may not, so the next client can open.
package vpty

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Errors returned by a Device.
var (
	// ErrClosed means the device was closed.
	ErrClosed = errors.New("vpty: closed")
	// ErrUnplugged means the device is unplugged.
	ErrUnplugged = errors.New("vpty: unplugged")
	// ErrPlugged means Replug was called while plugged in.
	ErrPlugged = errors.New("vpty: already plugged in")
	// ErrNoPTY means the system could not provide a pseudo-terminal.
	ErrNoPTY = errors.New("vpty: no pseudo-terminal")
)

// Event is a change of the device's connection.
type Event int

// Events. Values are stable.
const (
	EventUnplug     Event = 1
	EventReplug     Event = 2
	EventDisconnect Event = 3 // the last client closed the port or died
)

// Config configures a Device.
type Config struct {
	// Link is the stable symlink path. Empty: a link named TempName (default "tty")
	// in a new temporary directory that Close removes.
	Link     string
	TempName string
	// OnData receives bytes written by the client, on the device's goroutine
	// for that pty; replies go through c, which fails once that pty is gone.
	OnData  func(c *Conn, b []byte)
	OnEvent func(Event) // called with the device's lock released
	Logger  *slog.Logger
}

// Conn is one pty pair. Writes to it reach the client that has it open.
type Conn struct {
	master *os.File
	slave  string
	stop   chan struct{}
	done   chan struct{}
}

// Write sends bytes to the client.
func (c *Conn) Write(b []byte) (int, error) {
	select {
	case <-c.stop:
		return 0, ErrUnplugged
	default:
	}
	return c.master.Write(b)
}

// Done is closed when this pty is unplugged, renewed or closed.
func (c *Conn) Done() <-chan struct{} { return c.stop }

// Device is a virtual serial device. It is safe for concurrent use.
type Device struct {
	cfg    Config
	log    *slog.Logger
	tmpDir string // made by Open for the link; removed by Close

	mu      sync.Mutex
	cur     *Conn
	closed  bool
	serving sync.WaitGroup
}

// Open creates the pty and its link.
func Open(cfg Config) (*Device, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Device{cfg: cfg, log: cfg.Logger}
	if cfg.Link == "" {
		dir, err := os.MkdirTemp("", "vpty-")
		if err != nil {
			return nil, fmt.Errorf("vpty: %w", err)
		}
		name := cfg.TempName
		if name == "" {
			name = "tty"
		}
		d.tmpDir, d.cfg.Link = dir, filepath.Join(dir, name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.plugLocked(); err != nil {
		d.removeTemp()
		return nil, err
	}
	return d, nil
}

// Path is the stable link to open.
func (d *Device) Path() string { return d.cfg.Link }

// Conn returns the current pty, or nil while unplugged.
func (d *Device) Conn() *Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur
}

// Write sends bytes to the client of the current pty.
func (d *Device) Write(b []byte) (int, error) {
	c := d.Conn()
	if c == nil {
		return 0, ErrUnplugged
	}
	return c.Write(b)
}

func (d *Device) plugLocked() error {
	m, sl, err := openPTY()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoPTY, err)
	}
	// Raw from the start: a cooked slave would echo our output back to us.
	if err := makeRaw(int(sl.Fd())); err != nil {
		_ = m.Close()
		_ = sl.Close()
		return fmt.Errorf("vpty: raw mode: %w", err)
	}
	name := sl.Name()
	// Hold no slave descriptor: the master then reads EIO while no client
	// has the slave open, which is how a departed client is noticed.
	_ = sl.Close()
	tmp := d.cfg.Link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(name, tmp); err != nil {
		_ = m.Close()
		return fmt.Errorf("vpty: link: %w", err)
	}
	if err := os.Rename(tmp, d.cfg.Link); err != nil {
		_ = m.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("vpty: link: %w", err)
	}
	c := &Conn{master: m, slave: name, stop: make(chan struct{}), done: make(chan struct{})}
	d.cur = c
	d.serving.Add(1)
	go d.serve(c)
	d.log.Debug("vpty: plugged in", "link", d.cfg.Link, "pty", name)
	return nil
}

func (d *Device) unplugLocked(c *Conn) {
	if d.cur == c {
		d.cur = nil
	}
	close(c.stop)
	_ = c.master.Close()
}

// Unplug closes the pty, as pulling a USB adapter does: the client's port
// fails, and the link disappears until Replug.
func (d *Device) Unplug() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	c := d.cur
	if c == nil {
		d.mu.Unlock()
		return nil
	}
	d.unplugLocked(c)
	_ = os.Remove(d.cfg.Link)
	d.mu.Unlock()
	<-c.done
	d.event(EventUnplug)
	return nil
}

// Replug creates a new pty behind the same link.
func (d *Device) Replug() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	if d.cur != nil {
		d.mu.Unlock()
		return ErrPlugged
	}
	err := d.plugLocked()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	d.event(EventReplug)
	return nil
}

// Close unplugs the device for good and removes the link.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	if c := d.cur; c != nil {
		d.unplugLocked(c)
	}
	d.mu.Unlock()
	d.serving.Wait()
	_ = os.Remove(d.cfg.Link)
	d.removeTemp()
	return nil
}

// removeTemp removes the temporary directory Open made for the link, if any.
func (d *Device) removeTemp() {
	if d.tmpDir != "" {
		_ = os.RemoveAll(d.tmpDir)
	}
}

func (d *Device) event(e Event) {
	if d.cfg.OnEvent != nil {
		d.cfg.OnEvent(e)
	}
}

const (
	// presenceWindow bounds each master read, so the loop notices Unplug and
	// learns whether a client holds the slave (a quiet open slave times out;
	// a closed one reads EIO at once).
	presenceWindow = 50 * time.Millisecond
	// idleRetry paces reads while no client has the slave open.
	idleRetry = 10 * time.Millisecond
)

func (d *Device) serve(c *Conn) {
	defer d.serving.Done()
	defer close(c.done)
	buf := make([]byte, 512)
	sawClient := false
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		_ = c.master.SetReadDeadline(time.Now().Add(presenceWindow))
		n, err := c.master.Read(buf)
		if n > 0 {
			sawClient = true
			if d.cfg.OnData != nil {
				d.cfg.OnData(c, buf[:n])
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			sawClient = true
		case errors.Is(err, syscall.EIO):
			if sawClient {
				if d.clientGone(c) {
					return
				}
				sawClient = false
			}
			t := time.NewTimer(idleRetry)
			select {
			case <-c.stop:
				t.Stop()
				return
			case <-t.C:
			}
		default:
			return // master closed by Unplug or Close
		}
	}
}

// clientGone handles the last client closing the slave. go.bug.st/serial
// opens ports with TIOCEXCL and clears it on Close; a client killed by
// SIGKILL leaves it set, and on a pty the flag outlives the client while
// the master stays open (a real USB tty drops it on last close). So the
// device opens the slave itself: if it may (privileged, or no flag), it
// clears a stale flag and keeps the pty; if the open fails with EBUSY it
// renews the pty behind the link. It reports whether c was replaced.
func (d *Device) clientGone(c *Conn) bool {
	defer d.event(EventDisconnect)
	fd, err := unix.Open(c.slave, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == nil {
		if excl, err := unix.IoctlGetInt(fd, unix.TIOCGEXCL); err == nil && excl != 0 {
			_ = unix.IoctlSetInt(fd, unix.TIOCNXCL, 0)
		}
		_ = unix.Close(fd)
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.cur != c {
		return true
	}
	d.log.Debug("vpty: stale exclusive pty, renewing", "err", err)
	// Publish the new pty before closing the old one, so the link never
	// points at a vanished /dev/pts entry.
	perr := d.plugLocked()
	d.unplugLocked(c)
	if perr != nil {
		d.log.Error("vpty: renew pty", "err", perr)
		_ = os.Remove(d.cfg.Link)
	}
	return true
}

// openPTY opens a pty pair whose master is non-blocking. creack/pty leaves
// the master in blocking mode (it calls Fd()), where read deadlines do not
// apply and Close does not interrupt a pending Read; a duplicate descriptor
// made non-blocking goes through the runtime poller instead.
func openPTY() (master, slave *os.File, err error) {
	m, sl, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	fd, err := unix.Dup(int(m.Fd()))
	if err != nil {
		_ = sl.Close()
		return nil, nil, err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		_ = sl.Close()
		return nil, nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), sl, nil
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
