// Package driver is what every hardware driver shows the daemon: its settings as the
// config file holds them, how they are checked, and how the driver is opened from them
// (docs/adr/0042-driver-registry.md). Each driver package (lockboard, gpiodoor, scanner,
// keypad) implements Settings in its setup.go; firmware/config lists the settings types
// under hardware, and firmware opens whatever the list holds, knowing no driver by name.
//
// This package imports no driver and nothing of firmware: imports stay one-way,
// firmware -> drivers (docs/architecture.md §4).
package driver

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Kind says what sort of driver a Settings opens.
type Kind struct {
	// Name is the kind in Health, the log and `lockerd hwtest`: stable, it may be
	// reported to the cloud ("lockboard", "gpio_doors", "scanner", "keypad").
	Name string
	// Noun names the kind in config messages ("lock-board bus", "gpio door set").
	Noun string
	// GPIO: the driver needs GPIO lines. The daemon then loads periph's host
	// drivers, and reports the driver failed when they did not initialise.
	GPIO bool
	// Pending is the driver's Health reason from its start until its first report
	// ("port not opened yet"); empty when it reports as it opens.
	Pending string
}

// Settings is one configured driver: an entry of a list under hardware in the config
// file. Implementations are value types that the YAML decoder fills.
type Settings interface {
	DriverKind() Kind
	// DriverName is the driver's name in the config, unique across all kinds.
	DriverName() string
	// IsDisabled reports disabled: true; the driver is then not opened (skipped).
	IsDisabled() bool
	// Check reports every problem with the settings, each at its field's path under
	// p (e.g. hardware.scanners[0]), and declares the driver's name with c.Name.
	Check(c Check, p string)
	// Open starts the driver. An error marked with Refused is one the validator
	// should have caught: the daemon stops. Any other error is a driver that could not
	// be opened: it is reported failed with the error as reason, and the others run
	// (docs/adr/0014-drivers-fail-soft.md).
	Open(env Env) (Loaded, error)
}

// Doors is implemented by the Settings of a driver that opens compartment doors.
type Doors interface {
	// CheckDoor checks a compartment's door address (board, lock) on the driver
	// named driver, reporting problems under p (compartments[3].door), and returns
	// the key that names the door in duplicate messages ("lock bus0/0/3"); ok is
	// false when it reported a problem.
	CheckDoor(c Check, p, driver string, board, lock int) (key string, ok bool)
}

// Check is how Settings.Check reports problems and claims what must be unique across
// every driver of every kind: names, serial ports and GPIO lines. Two drivers on one
// port or line would fight over it on site, and only the config can catch that before
// they do. firmware/config implements it with the file's line numbers.
type Check interface {
	// Fail reports a problem with the field at path.
	Fail(path, format string, args ...any)
	// Name checks and declares the name of the driver at path p, whose settings are s;
	// compartments find their door driver by it.
	Name(p, name string, s Settings)
	// Port checks a serial port at path and claims it for the driver owner.
	Port(path, port, owner string)
	// Pin checks a GPIO line name at path and claims the line.
	Pin(path, pin string)
}

// Between reports a non-zero duration outside lo..hi; why ends the message.
func Between(c Check, path string, d, lo, hi time.Duration, why string) {
	if d != 0 && (d < lo || d > hi) {
		c.Fail(path, "must be between %v and %v%s", lo, hi, why)
	}
}

// Env is what the daemon gives a driver it opens. The callbacks are safe to call from
// the driver's goroutines from the moment Open is called.
type Env struct {
	Log *slog.Logger // carries the driver's name
	// Pins resolves GPIO line names: periph's registry or a simulator's fake pins.
	// Set for kinds with GPIO.
	Pins func(name string) gpio.PinIO
	// Health reports the driver's live state: working or not, and why not.
	Health func(ok bool, reason string)
	// Door reports that the door at (board, lock) opened or closed; drivers without
	// boards use board 0.
	Door func(board, lock int, open bool)
	// Input hands a key or a scan to the front panel.
	Input func(Input)
}

// Input is one key press or scan. Scan is the receiver's to wipe: the driver does not
// keep it (docs/privacy.md).
type Input struct {
	Key       byte   // a key press, when Scan is nil
	Scan      []byte // a scan
	Symbology string // AIM identifier of a scan, if the scanner sends one
}

// Loaded is an opened driver.
type Loaded struct {
	// Halt puts the driver's outputs in their safe state at once; Close stops it and
	// waits for its goroutines.
	Halt, Close func() error
	// Door finds the door at an address, nil if there is none; nil for a driver
	// without doors.
	Door func(board, lock int) Door
	// Input: the driver sends keys or scans to the front panel.
	Input bool
	// Attrs describe the driver in the "driver loaded" log line.
	Attrs []any
}

// Door is a compartment's lock and door sensor on some driver.
type Door interface {
	// Unlock pulses the lock. An unlock that may or may not have happened wraps
	// locker.ErrUnlockUnconfirmed.
	Unlock(ctx context.Context) error
	// State is the door's last known state.
	State() (open, known bool)
	// Loaded is false for a door that will never report (its line failed to open).
	Loaded() bool
	String() string // where it is, for hwtest: "bus0 board 0 lock 3"
}

// Refused marks err as one the validator should have refused: Open cannot proceed,
// and the daemon stops rather than run with the settings half-applied. The message
// is err's.
func Refused(err error) error { return refused{err} }

// IsRefused reports whether err was marked by Refused.
func IsRefused(err error) bool {
	var r refused
	return errors.As(err, &r)
}

type refused struct{ error }

func (r refused) Unwrap() error { return r.error }
