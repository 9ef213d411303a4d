package scanner

import (
	"time"

	"github.com/lockerd/lockerd/drivers/driver"
	"github.com/lockerd/lockerd/drivers/serialport"
)

// Settings is a barcode/QR scanner on a serial port (USB CDC-ACM or RS-232), as an
// entry of hardware.scanners in the config file. Its scans go to the front panel.
// Zero durations take the driver's defaults. It implements driver.Settings
// (docs/adr/0042-driver-registry.md).
type Settings struct {
	Name        string        `yaml:"name"`
	Disabled    bool          `yaml:"disabled,omitempty"`
	Port        string        `yaml:"port"`                   // prefer /dev/serial/by-id/...
	Baud        int           `yaml:"baud,omitempty"`         // RS-232 scanners; default 9600
	Silence     time.Duration `yaml:"silence,omitempty"`      // ends a scan without a suffix; default 80ms
	DedupWindow time.Duration `yaml:"dedup_window,omitempty"` // drops a repeat; default 1.5s
	MaxLen      int           `yaml:"max_len,omitempty"`      // longest scan in bytes; default 512
}

// DriverKind is the scanner kind of driver.
var DriverKind = driver.Kind{Name: "scanner", Noun: "scanner", Pending: "port not opened yet"}

var _ driver.Settings = Settings{}

// DriverKind implements driver.Settings.
func (s Settings) DriverKind() driver.Kind { return DriverKind }

// DriverName implements driver.Settings.
func (s Settings) DriverName() string { return s.Name }

// IsDisabled implements driver.Settings.
func (s Settings) IsDisabled() bool { return s.Disabled }

// Check implements driver.Settings.
func (s Settings) Check(c driver.Check, p string) {
	c.Name(p, s.Name, s)
	c.Port(p+".port", s.Port, s.Name)
	if s.Baud != 0 && (!serialport.ValidRate(s.Baud) || s.Baud > 921600) {
		c.Fail(p+".baud", "must be a standard rate up to 921600 such as 9600 (usual for RS-232 scanners), not %d", s.Baud)
	}
	driver.Between(c, p+".silence", s.Silence, 10*time.Millisecond, time.Second, " (80ms suits scanners without a suffix)")
	driver.Between(c, p+".dedup_window", s.DedupWindow, 100*time.Millisecond, 10*time.Second, "")
	if s.MaxLen < 0 || s.MaxLen > 4096 {
		c.Fail(p+".max_len", "must be 1..4096 bytes")
	}
}

// Open implements driver.Settings: the reader opens its port by itself, and reopens
// it after an unplug, so an error here is always one of the settings.
func (s Settings) Open(env driver.Env) (driver.Loaded, error) {
	r, err := Open(Config{
		Path: s.Port, BaudRate: s.Baud,
		Framer: FramerConfig{Silence: s.Silence, DedupWindow: s.DedupWindow, MaxLen: s.MaxLen},
		OnScan: func(sc Scan) {
			env.Input(driver.Input{Scan: sc.Code, Symbology: sc.Symbology})
		},
		OnHealth: func(h Health) { env.Health(h.OK, h.Reason) },
		Logger:   env.Log,
	})
	if err != nil {
		return driver.Loaded{}, driver.Refused(err)
	}
	return driver.Loaded{Halt: r.Halt, Close: r.Close, Input: true, Attrs: []any{"port", s.Port}}, nil
}
