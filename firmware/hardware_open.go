package firmware

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"

	"github.com/lockerd/lockerd/drivers/driver"
	"github.com/lockerd/lockerd/drivers/gpiodoor"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/locker"
)

// OpenHardware opens every driver the config declares. A driver that cannot be opened
// is reported as failed (in the log and Health) and the others still run: a locker with
// a broken scanner or one dead GPIO line keeps serving its other doors. Only a config
// the validator should have refused is an error.
//
// It knows no driver: each one's settings open it (driver.Settings.Open,
// docs/adr/0042-driver-registry.md).
func OpenHardware(cfg *config.Config, log *slog.Logger, opt HardwareOptions) (*Hardware, error) {
	h := &Hardware{log: log, doors: map[locker.CompartmentID]driver.Door{}, byAddr: map[string]locker.CompartmentID{},
		doorsOf: map[string]func(int, int) driver.Door{}}
	// Addresses first: drivers report door changes from their own goroutines as soon
	// as they are open, and byAddr is read-only from then on.
	h.addresses(cfg.Compartments)
	drivers := cfg.Hardware.Drivers()
	pins := opt.Pins
	if pins == nil && usesGPIO(drivers) {
		pins = h.initGPIOHost()
	}
	for _, d := range drivers {
		if err := h.open(d.Settings, pins); err != nil {
			return nil, errors.Join(err, h.Close())
		}
	}
	h.resolveDoors(cfg.Compartments)
	if opt.Opened != nil {
		opt.Opened(h)
	}
	return h, nil
}

func usesGPIO(drivers []config.Driver) bool {
	for _, d := range drivers {
		if d.Settings.DriverKind().GPIO {
			return true
		}
	}
	return false
}

// open opens one driver and records it in Health, or reports it skipped or failed.
func (h *Hardware) open(s driver.Settings, pins func(string) gpio.PinIO) error {
	kind, name := s.DriverKind(), s.DriverName()
	p := h.register(name, kind.Name, kind.Pending)
	switch {
	case s.IsDisabled():
		h.notLoaded(p, Skipped, "disabled in config")
		return nil
	case kind.GPIO && pins == nil:
		h.notLoaded(p, Failed, "GPIO unavailable: periph host drivers did not initialise")
		return nil
	}
	env := driver.Env{Log: h.log.With("driver", name),
		Health: func(ok bool, reason string) { h.setHealth(p, ok, reason) },
		Door: func(board, lock int, open bool) {
			h.doorChanged(fmt.Sprintf("%s/%d/%d", name, board, lock), open)
		},
		Input: func(in driver.Input) { h.input(panel.InputFrom(name, in)) }}
	if kind.GPIO {
		env.Pins = pins
	}
	d, err := s.Open(env)
	switch {
	case driver.IsRefused(err):
		return fmt.Errorf("firmware: driver %s: %w", name, err)
	case err != nil:
		h.notLoaded(p, Failed, err.Error())
		return nil
	}
	if d.Door != nil {
		h.doorsOf[name] = d.Door
	}
	h.add(name, d.Halt, d.Close)
	if d.Input {
		h.inputs++
	}
	h.loaded(p, d.Attrs...)
	return nil
}

// initGPIOHost loads periph's host drivers and returns the pin registry, or nil when
// GPIO is unavailable (GPIO drivers then fail with that reason).
func (h *Hardware) initGPIOHost() func(string) gpio.PinIO {
	p := h.register("periph", KindGPIOHost, "")
	report, err := gpiodoor.InitHost(h.log)
	if err != nil {
		h.notLoaded(p, Failed, err.Error())
		return nil
	}
	var failed []string
	loaded := 0
	for _, d := range report {
		switch d.Load {
		case gpiodoor.Failed:
			failed = append(failed, d.Name+": "+d.Reason)
		case gpiodoor.Loaded:
			loaded++
		}
	}
	h.setHealth(p, len(failed) == 0, strings.Join(failed, "; "))
	h.loaded(p, "host_drivers_loaded", loaded, "host_drivers_failed", len(failed))
	return gpioreg.ByName
}

// doorAddr keys a door by driver and address; gpio doors have board 0 and their
// position as lock, as in the config.
func doorAddr(d config.Door) string { return fmt.Sprintf("%s/%d/%d", d.Driver, d.Board, d.Lock) }

// addresses maps each door compartment's driver address to it.
func (h *Hardware) addresses(cs []config.Compartment) {
	for _, c := range cs {
		if c.Kind == "shelf" {
			continue
		}
		id := locker.CompartmentID(c.ID)
		h.order = append(h.order, id)
		h.byAddr[doorAddr(c.Door)] = id
	}
}

// resolveDoors points every door compartment at its driver's door. A compartment whose
// driver did not load gets none: Unlock fails with ErrNoDoor and its state stays
// unknown, which the station treats as a door it cannot use.
func (h *Hardware) resolveDoors(cs []config.Compartment) {
	for _, c := range cs {
		if c.Kind == "shelf" {
			continue
		}
		if doors := h.doorsOf[c.Door.Driver]; doors != nil {
			if d := doors(c.Door.Board, c.Door.Lock); d != nil {
				h.doors[locker.CompartmentID(c.ID)] = d
			}
		}
	}
}
