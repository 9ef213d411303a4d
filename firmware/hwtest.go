package firmware

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/lockerd/lockerd/drivers/driver"
	"github.com/lockerd/lockerd/drivers/serialport"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/locker"
)

// ErrRunning is returned by HWTest while lockerd serves the station: both would drive
// the same lines and ports.
var ErrRunning = errors.New("firmware: hwtest: lockerd is running (stop it first: systemctl stop lockerd)")

// HWTestOptions connect hwtest to the installer.
type HWTestOptions struct {
	// In carries commands and confirmations, one a line. If it is an io.Closer, HWTest
	// closes it on return, which ends its reader.
	In  io.Reader
	Out io.Writer
	// Pins resolves GPIO lines instead of periph's registry (the simulator, tests).
	Pins func(name string) gpio.PinIO
	Log  *slog.Logger // the drivers' log; default discarded
	// Settle bounds the wait for drivers to open and doors to report before the first
	// listing; default 3 s.
	Settle time.Duration
}

// hwtest is one session of `lockerd hwtest`.
type hwtest struct {
	cfg    *config.Config
	hw     *Hardware
	labels map[locker.CompartmentID]string
	lines  <-chan string

	mu  sync.Mutex // serialises output: live events arrive from driver goroutines
	out io.Writer
}

// HWTest is `lockerd hwtest`, the installer's check of a station's hardware: it opens
// every driver the config declares and lists what loaded, then takes commands: list
// doors with their sensor states, pulse one door or all doors one at a time (each after
// a "y" confirmation), while it shows door changes, scans and keys live. Scans show
// their length and at most the last 4 characters of a tracking number (pickup-code and
// badge QRs only their kind); keys show as '*'. It returns nil on "quit", at the end
// of In, or when ctx ends.
func HWTest(ctx context.Context, cfg *config.Config, opt HWTestOptions) error {
	lines, stopReader := readLines(opt.In)
	defer stopReader()
	if running(SocketPath(cfg)) || storeLocked(StorePath(cfg)) {
		return ErrRunning
	}
	if err := portsFree(cfg); err != nil {
		return err
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Settle <= 0 {
		opt.Settle = 3 * time.Second
	}
	hw, err := OpenHardware(cfg, opt.Log, HardwareOptions{Pins: opt.Pins})
	if err != nil {
		return err
	}
	defer hw.Close()
	t := &hwtest{cfg: cfg, hw: hw, labels: map[locker.CompartmentID]string{}, out: opt.Out, lines: lines}
	for _, c := range cfg.Compartments {
		t.labels[locker.CompartmentID(c.ID)] = c.Label
	}

	t.printf("lockerd hwtest: %s, %d compartments\n", cfg.LockerID, len(cfg.Compartments))
	t.settle(ctx, opt.Settle)
	t.drivers()
	t.doors()
	hw.SetDoorSink(t.doorChanged)
	hw.SetInputSink(t.input)
	defer hw.SetInputSink(nil)
	defer hw.SetDoorSink(nil)
	t.printf("commands: drivers, doors, pulse <compartment id or label>, pulse all, quit\n")
	for {
		t.printf("> ")
		line, ok := t.read(ctx)
		if !ok {
			t.printf("\n")
			return nil
		}
		switch f := strings.Fields(line); {
		case len(f) == 0:
		case f[0] == "quit" || f[0] == "q" || f[0] == "exit":
			return nil
		case f[0] == "drivers":
			t.drivers()
		case f[0] == "doors":
			t.doors()
		case f[0] == "pulse" && len(f) == 2 && f[1] == "all":
			t.pulseAll(ctx)
		case f[0] == "pulse" && len(f) == 2:
			t.pulseOne(ctx, f[1])
		default:
			t.printf("unknown command %q: drivers, doors, pulse <compartment id or label>, pulse all, quit\n", line)
		}
	}
}

// readLines reads in line by line on a goroutine that stop ends: it closes in if it
// can (which interrupts a pending read on a pipe or a pollable terminal) and waits a
// moment for the reader, which a blocking read on a plain terminal cannot be made to
// leave before the next line.
func readLines(in io.Reader) (<-chan string, func()) {
	lines := make(chan string)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSpace(sc.Text()):
			case <-quit:
				return
			}
		}
	}()
	return lines, func() {
		close(quit)
		if c, ok := in.(io.Closer); ok {
			_ = c.Close()
		}
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
}

// running reports whether a lockerd may be answering on the control socket: it
// answers, or the socket is there but not ours to dial (permission denied).
func running(path string) bool {
	c, err := net.DialTimeout("unix", path, 500*time.Millisecond)
	if err != nil {
		return errors.Is(err, fs.ErrPermission)
	}
	c.Close()
	return true
}

// storeLocked reports whether another process (a running lockerd, whatever socket it
// was started with) holds the station's store: its exclusive lock keeps even a
// read-only open out.
func storeLocked(path string) bool {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	if err != nil {
		return errors.Is(err, bolterrors.ErrTimeout)
	}
	db.Close()
	return false
}

// portsFree refuses when another process holds a serial port a driver of cfg declares:
// a lockerd started with another config (another state_dir and socket, which running
// and storeLocked cannot see) drives the same bus, and hwtest must not pulse doors
// under it (docs/adr/0054-serial-ports-locked-per-device.md).
func portsFree(cfg *config.Config) error {
	for _, d := range cfg.Hardware.Drivers() {
		if d.Settings.IsDisabled() {
			continue
		}
		var ports portClaims
		d.Settings.Check(&ports, d.Path)
		for _, port := range ports {
			l, err := serialport.Acquire(port)
			if errors.Is(err, serialport.ErrInUse) {
				return fmt.Errorf("firmware: hwtest: %s %s: %w (stop it first: systemctl stop lockerd)",
					d.Settings.DriverKind().Noun, d.Settings.DriverName(), err)
			}
			_ = l.Release() // a missing port is the driver's to report
		}
	}
	return nil
}

// portClaims collects the serial ports a driver's Check claims; it ignores the rest.
type portClaims []string

func (c *portClaims) Fail(string, string, ...any)          {}
func (c *portClaims) Name(string, string, driver.Settings) {}
func (c *portClaims) Port(_, port, _ string)               { *c = append(*c, port) }
func (c *portClaims) Pin(string, string)                   {}

func (t *hwtest) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, format, args...)
}

func (t *hwtest) read(ctx context.Context) (string, bool) {
	select {
	case l, ok := <-t.lines:
		return l, ok
	case <-ctx.Done():
		return "", false
	}
}

// settle waits until every loaded driver is OK and every door reports, or until d.
func (t *hwtest) settle(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		ok := true
		for _, h := range t.hw.Health() {
			ok = ok && (h.Load != Loaded || h.OK)
		}
		for _, c := range t.hw.Compartments() {
			_, known := t.hw.DoorOpen(c.ID)
			ok = ok && (known || c.Where == "")
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (t *hwtest) drivers() {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, "drivers:\n")
	for _, h := range t.hw.Health() {
		state := "ok"
		switch {
		case h.Load != Loaded:
			state = h.Reason
		case !h.OK:
			state = "fault: " + h.Reason
		}
		fmt.Fprintf(t.out, "  %-12s %-10s %-8s %s\n", h.Name, h.Kind, h.Load, state)
	}
}

func (t *hwtest) doors() {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, "doors:\n")
	for _, c := range t.hw.Compartments() {
		where := c.Where
		if where == "" {
			where = "(no working driver)"
		}
		fmt.Fprintf(t.out, "  %4d %-6s %-48s %s\n", c.ID, t.labels[c.ID], where, t.doorState(c.ID))
	}
}

func (t *hwtest) doorState(id locker.CompartmentID) string {
	open, known := t.hw.DoorOpen(id)
	switch {
	case !known:
		return "unknown"
	case open:
		return "open"
	}
	return "closed"
}

func (t *hwtest) doorChanged(id locker.CompartmentID, open bool) {
	state := "closed"
	if open {
		state = "open"
	}
	t.printf("door %s (%d): %s\n", t.labels[id], id, state)
}

// input echoes a scan by kind, length and at most the last 4 characters of a tracking
// number, and a key as '*'.
func (t *hwtest) input(in panel.Input) {
	defer clear(in.Scan)
	if in.Scan == nil {
		t.printf("key %s: *\n", in.Source)
		return
	}
	s := in.Scan
	switch {
	case strings.HasPrefix(string(s), panel.PrefixCode):
		t.printf("scan %s: pickup-code QR, %d chars\n", in.Source, len(s))
	case strings.HasPrefix(string(s), panel.PrefixBadge):
		t.printf("scan %s: courier badge QR, %d chars\n", in.Source, len(s))
	case len(s) <= 8:
		t.printf("scan %s: %d chars\n", in.Source, len(s))
	default:
		t.printf("scan %s: %d chars, …%s\n", in.Source, len(s), printable(s[len(s)-4:]))
	}
}

// printable keeps a masked hint on one line.
func printable(b []byte) string {
	out := []byte(string(b))
	for i, c := range out {
		if c < 0x20 || c > 0x7e {
			out[i] = '?'
		}
	}
	return string(out)
}

// find resolves a compartment by id or label.
func (t *hwtest) find(arg string) (locker.CompartmentID, bool) {
	for _, c := range t.hw.Compartments() {
		if t.labels[c.ID] == arg || strconv.Itoa(int(c.ID)) == arg {
			return c.ID, true
		}
	}
	return 0, false
}

func (t *hwtest) pulseOne(ctx context.Context, arg string) {
	id, ok := t.find(arg)
	if !ok {
		t.printf("no door compartment %q\n", arg)
		return
	}
	t.confirmAndPulse(ctx, id, "[y/N]")
}

func (t *hwtest) pulseAll(ctx context.Context) {
	for _, c := range t.hw.Compartments() {
		if !t.confirmAndPulse(ctx, c.ID, "[y/N/q]") {
			return
		}
	}
}

// confirmAndPulse asks, then pulses on "y"; it returns false on "q" or end of input.
func (t *hwtest) confirmAndPulse(ctx context.Context, id locker.CompartmentID, choices string) bool {
	where := "no working driver"
	for _, c := range t.hw.Compartments() {
		if c.ID == id && c.Where != "" {
			where = c.Where
		}
	}
	t.printf("pulse door %s (compartment %d, %s)? %s ", t.labels[id], id, where, choices)
	answer, ok := t.read(ctx)
	switch {
	case !ok:
		t.printf("\n")
		return false
	case answer == "q":
		return false
	case answer != "y" && answer != "Y":
		t.printf("door %s: skipped\n", t.labels[id])
		return true
	}
	if err := t.hw.Unlock(ctx, id); err != nil {
		t.printf("door %s: pulse failed: %v\n", t.labels[id], err)
		return true
	}
	t.printf("door %s: pulsed\n", t.labels[id])
	return true
}
