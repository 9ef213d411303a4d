package firmware

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"

	"github.com/lockerd/lockerd/drivers/driver"
	"github.com/lockerd/lockerd/drivers/gpiodoor"
	"github.com/lockerd/lockerd/firmware/config"
)

// CheckOptions are the choices of `lockerd check`.
type CheckOptions struct {
	// Offline checks a config meant for another machine: what only that machine can
	// tell becomes a warning (its serial ports, state directory, control socket
	// directory), or is not looked at (its GPIO lines, which this host's registry
	// does not know; its key store and broker files). The file's own rules stay
	// errors: config.Load applies them before.
	Offline bool
	// Pins resolves GPIO line names in place of periph's registry (tests).
	Pins func(name string) gpio.PinIO
}

// Check is `lockerd check` after config.Load: it reports what Run would refuse or
// fail on in this machine, each problem at its field's path and line with a fix. The
// problems Run refuses to start with (the state and control socket directories) and
// those that fail a driver (a serial port that is not there, a GPIO line the board
// does not have) are found by the same code Run uses (hostProblems), so that check
// and run agree. err joins them all; with Offline they are warnings instead, and err
// is nil.
func Check(cfg *config.Config, log *slog.Logger, opt CheckOptions) (warnings []error, err error) {
	var pins func(string) gpio.PinIO
	if !opt.Offline {
		pins = opt.Pins
		if pins == nil && usesGPIO(cfg.Hardware.Drivers()) {
			pins = registryPins(log)
		}
	}
	refuse, fail := hostProblems(cfg, pins)
	errs := append(refuse, fail...)
	if opt.Offline {
		return errs, nil
	}
	// Run it as the user lockerd runs as (sudo -u lockerd): the files must be
	// readable by that user, and by no one else where they hold secrets.
	keys, err := CheckKeys(cfg, log)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	if keys != nil {
		defer keys.Close()
	}
	if err := CheckCloudLinkFiles(cfg); err != nil {
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// registryPins loads periph's host drivers and returns its registry's lookup, or nil
// when this host has no GPIO lines to look names up in (a laptop checking a config).
func registryPins(log *slog.Logger) func(string) gpio.PinIO {
	if _, err := gpiodoor.InitHost(log); err != nil || len(gpioreg.All()) == 0 {
		return nil
	}
	return gpioreg.ByName
}

// hostProblems checks the config against this machine. refuse are the problems Run
// refuses to start with: the state directory open to group or others, the control
// socket's directory missing. fail are those that leave a driver failed (ADR 0014:
// the other drivers run): a serial port that does not exist or is not a character
// device, a GPIO line that pins (nil: no registry to ask) does not know. Disabled
// drivers are not opened, so not checked.
func hostProblems(cfg *config.Config, pins func(string) gpio.PinIO) (refuse, fail []error) {
	if err := checkStateDir(cfg); err != nil {
		refuse = append(refuse, err)
	}
	if err := checkSocketDir(cfg); err != nil {
		refuse = append(refuse, err)
	}
	var c claims
	for _, d := range cfg.Hardware.Drivers() {
		if !d.Settings.IsDisabled() {
			d.Settings.Check(&c, d.Path)
		}
	}
	for _, p := range c.ports {
		if err := checkPort(cfg, p.path, p.value); err != nil {
			fail = append(fail, err)
		}
	}
	if pins != nil {
		for _, p := range c.pins {
			if pins(p.value) == nil {
				fail = append(fail, cfg.Problem(p.path, "no GPIO line %s on this board: names are BCM numbers (GPIO2 to GPIO27 on a Raspberry Pi's 40-pin header), and gpioinfo lists the lines there are", p.value))
			}
		}
	}
	return refuse, fail
}

// checkStateDir refuses a state directory that group or others can reach: it holds
// the device's keys (docs/privacy.md). A missing one is created 0700 at start.
func checkStateDir(cfg *config.Config) error {
	fi, err := os.Stat(cfg.StateDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return cfg.Problem("state_dir", "%v", err)
	case !fi.IsDir():
		return cfg.Problem("state_dir", "%s is not a directory", cfg.StateDir)
	case fi.Mode().Perm()&0o077 != 0:
		return cfg.Problem("state_dir", "%s is %v: group and others must have no access, because it holds the station's keys; chmod 700 %s",
			cfg.StateDir, fi.Mode(), cfg.StateDir)
	}
	return nil
}

// checkSocketDir refuses a control socket whose directory does not exist: lockerd does
// not create directories outside its state directory. Under systemd the unit's
// RuntimeDirectory=lockerd creates /run/lockerd.
func checkSocketDir(cfg *config.Config) error {
	dir := filepath.Dir(SocketPath(cfg))
	if dir == filepath.Clean(cfg.StateDir) {
		return nil // created with the state directory
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return cfg.Problem("control.socket", "directory %s does not exist: the systemd unit creates %s (RuntimeDirectory=lockerd); outside systemd create it first (install -d -m 0750 -o lockerd -g lockerd %s) or leave control.socket out (then the socket is in state_dir)",
			dir, RuntimeDir, dir)
	case err != nil:
		return cfg.Problem("control.socket", "%v", err)
	case !fi.IsDir():
		return cfg.Problem("control.socket", "%s is not a directory", dir)
	}
	return nil
}

// checkPort wants a serial port to exist and be a character device.
func checkPort(cfg *config.Config, path, port string) error {
	fi, err := os.Stat(port)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return cfg.Problem(path, "%s does not exist: is the adapter plugged in? ls -l /dev/serial/by-id/ lists those that are", port)
	case err != nil:
		return cfg.Problem(path, "%v", err)
	case fi.Mode()&fs.ModeCharDevice == 0:
		return cfg.Problem(path, "%s is not a serial device (a character device such as /dev/ttyUSB0)", port)
	}
	return nil
}

// claims collects the serial ports and GPIO lines the drivers' own checks claim
// (driver.Check): the daemon knows no driver's settings (ADR 0042).
type claims struct{ ports, pins []claim }

type claim struct{ path, value string }

var _ driver.Check = (*claims)(nil)

func (c *claims) Fail(string, string, ...any)          {} // config.Parse reported these
func (c *claims) Name(string, string, driver.Settings) {}
func (c *claims) Port(path, port, _ string) {
	if port != "" && filepath.IsAbs(port) {
		c.ports = append(c.ports, claim{path, port})
	}
}
func (c *claims) Pin(path, pin string) {
	if pin != "" {
		c.pins = append(c.pins, claim{path, pin})
	}
}

// runPins is the pin lookup OpenHardware used, nil where there is no registry.
func runPins(cfg *config.Config, opt HardwareOptions) func(string) gpio.PinIO {
	if opt.Pins != nil {
		return opt.Pins
	}
	if !usesGPIO(cfg.Hardware.Drivers()) || len(gpioreg.All()) == 0 {
		return nil
	}
	return gpioreg.ByName
}

// hostCheck is Run's side of hostProblems: it refuses to start with the problems
// check reports as refusals, and logs those that fail a driver in check's words (the
// driver then reports itself failed in Health).
func hostCheck(cfg *config.Config, log *slog.Logger, pins func(string) gpio.PinIO) error {
	refuse, fail := hostProblems(cfg, pins)
	for _, err := range fail {
		log.Error("hardware: the driver will not work until the config or the machine is fixed", "problem", err.Error())
	}
	if err := errors.Join(refuse...); err != nil {
		return fmt.Errorf("firmware: not started:\n%w", err)
	}
	return nil
}
