// Package gpiodoor drives compartment doors wired straight to GPIO: a relay
// line that pulses a solenoid lock and an optional reed-switch line that
// senses the door, through periph.io (conn/v3 gpio, host/v3 gpioioctl).
//
// Every relay is driven to its safe (off) level before anything else and
// again on Halt and Close; a pulse never exceeds MaxPulse whatever the
// config says; the driver keeps each output's state itself and never reads
// an output line (on gpioioctl that turns it into an input). Door sensing is
// edge-driven with a debounce window, waiting with positive timeouts only.
// Doors are named by the config; the firmware maps compartments onto them.
package gpiodoor

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// MaxPulse is the hard ceiling on a relay pulse. Solenoid locks take a
// pulse of about half a second and burn out if held.
const MaxPulse = 2 * time.Second

// Defaults for zero fields of DoorConfig.
const (
	DefaultPulse    = 500 * time.Millisecond
	DefaultDebounce = 20 * time.Millisecond
)

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("gpiodoor: bad config")

// DoorConfig describes one door's lines. Pin names are those of
// gpioreg.ByName, e.g. "GPIO17".
type DoorConfig struct {
	Name     string
	Disabled bool // skipped: its lines are not touched

	Relay string
	// RelayActiveHigh: the relay is energised by a high level. Most relay
	// boards for the Pi are active-low, the default.
	RelayActiveHigh bool
	Pulse           time.Duration // default 500 ms; clamped to MaxPulse

	Sensor string // empty: no door sensor
	// SensorOpenLow: the door is open when the line reads low. Default: a
	// reed switch to ground with a pull-up, so a closed door reads low and
	// an open one high.
	SensorOpenLow bool
	SensorPull    string        // "up" (default), "down" or "none" (external resistor)
	Debounce      time.Duration // default 20 ms
}

// Config configures a Driver.
type Config struct {
	Doors []DoorConfig
	// ByName finds a pin; default gpioreg.ByName (call InitHost first).
	ByName func(name string) gpio.PinIO
	// OnChange and OnFault are called in order from one goroutine owned by
	// the driver.
	OnChange func(Change)
	OnFault  func(Fault)
	Logger   *slog.Logger
}

// ParsePull parses a SensorPull value.
func ParsePull(s string) (gpio.Pull, error) {
	switch s {
	case "", "up":
		return gpio.PullUp, nil
	case "down":
		return gpio.PullDown, nil
	case "none", "float":
		return gpio.Float, nil
	}
	return gpio.PullNoChange, fmt.Errorf("%w: unknown pull %q", ErrConfig, s)
}

func (d DoorConfig) withDefaults() DoorConfig {
	if d.Pulse == 0 {
		d.Pulse = DefaultPulse
	}
	if d.Debounce == 0 {
		d.Debounce = DefaultDebounce
	}
	return d
}

// Validate reports the first problem with c: unnamed or duplicate doors,
// a pin used twice, negative or absurd timings, unknown pulls.
func (c Config) Validate() error {
	names := map[string]bool{}
	pins := map[string]string{}
	use := func(pin, what string) error {
		if prev, ok := pins[pin]; ok {
			return fmt.Errorf("%w: pin %s used by %s and %s", ErrConfig, pin, prev, what)
		}
		pins[pin] = what
		return nil
	}
	for _, d := range c.Doors {
		if d.Name == "" {
			return fmt.Errorf("%w: door without a name", ErrConfig)
		}
		if names[d.Name] {
			return fmt.Errorf("%w: door %q configured twice", ErrConfig, d.Name)
		}
		names[d.Name] = true
		if d.Relay == "" {
			return fmt.Errorf("%w: door %q has no relay pin", ErrConfig, d.Name)
		}
		if d.Pulse < 0 || d.Debounce < 0 || d.Debounce > time.Second {
			return fmt.Errorf("%w: door %q: pulse %v, debounce %v", ErrConfig, d.Name, d.Pulse, d.Debounce)
		}
		if _, err := ParsePull(d.SensorPull); err != nil {
			return fmt.Errorf("door %q: %w", d.Name, err)
		}
		if err := use(d.Relay, d.Name+" relay"); err != nil {
			return err
		}
		if d.Sensor != "" {
			if err := use(d.Sensor, d.Name+" sensor"); err != nil {
				return err
			}
		}
	}
	return nil
}
