package panel

import (
	"time"

	"github.com/lockerd/lockerd/drivers/driver"
	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/locker"
)

// Settings is the front panel's section of the config file, hardware.panel: how keypad
// keys and scans become station calls (docs/adr/0013-front-panel-conventions.md). Zero
// fields take the defaults.
type Settings struct {
	// DefaultSize is the size of an unannounced parcel when the courier chose none with
	// keys 1-4: S, M, L or XL. Empty: the panel asks for a size.
	DefaultSize string `yaml:"default_size,omitempty"`
	// Idle ends a courier's session on the panel after no key or scan for this long;
	// default 60s, at most the station's session_idle.
	Idle time.Duration `yaml:"idle,omitempty"`
	// EntryTimeout drops a partly typed code or PIN; default 10s.
	EntryTimeout time.Duration `yaml:"entry_timeout,omitempty"`
}

// Check reports every problem with the settings at their paths under p
// (hardware.panel). That Idle is within the station's session_idle is the config's
// check, which knows the policy.
func (s Settings) Check(c driver.Check, p string) {
	switch s.DefaultSize {
	case "", "S", "M", "L", "XL":
	default:
		c.Fail(p+".default_size", "must be S, M, L or XL, not %q (or leave it out to ask)", s.DefaultSize)
	}
	driver.Between(c, p+".idle", s.Idle, 5*time.Second, 30*time.Minute, "")
	driver.Between(c, p+".entry_timeout", s.EntryTimeout, 2*time.Second, 2*time.Minute, "")
}

// Config converts checked settings.
func (s Settings) Config() Config {
	size, _ := locker.ParseSize(s.DefaultSize)
	return Config{DefaultSize: size, Idle: s.Idle, EntryTimeout: s.EntryTimeout}
}

// InputFrom is a driver's key or scan as the panel's Input from the driver named
// source.
func InputFrom(source string, in driver.Input) Input {
	return Input{Source: source, Key: keypad.Key(in.Key), Scan: in.Scan, Symbology: in.Symbology}
}
