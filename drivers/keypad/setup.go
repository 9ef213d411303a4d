package keypad

import (
	"fmt"
	"time"

	"github.com/lockerd/lockerd/drivers/driver"
)

// Keypad kinds in Settings.Kind.
const (
	KindMatrix  = "matrix"
	KindWiegand = "wiegand"
)

// Settings is a PIN pad on GPIO, as an entry of hardware.keypads in the config file: a
// matrix keypad (rows and columns) or a Wiegand keypad in 4- or 8-bit burst mode (d0
// and d1). Its keys go to the front panel. It implements driver.Settings
// (docs/adr/0042-driver-registry.md).
type Settings struct {
	Name     string   `yaml:"name"`
	Disabled bool     `yaml:"disabled,omitempty"`
	Kind     string   `yaml:"kind"` // matrix or wiegand
	Rows     []string `yaml:"rows,omitempty"`
	Cols     []string `yaml:"cols,omitempty"`
	// Layout is one string per row, one key per column, e.g. "123A"; default the 4x4
	// membrane layout 123A 456B 789C *0#D.
	Layout   []string      `yaml:"layout,omitempty"`
	Debounce time.Duration `yaml:"debounce,omitempty"` // matrix; default 20ms
	D0       string        `yaml:"d0,omitempty"`
	D1       string        `yaml:"d1,omitempty"`
	FrameGap time.Duration `yaml:"frame_gap,omitempty"` // wiegand; default 15ms
}

// DriverKind is the keypad kind of driver.
var DriverKind = driver.Kind{Name: "keypad", Noun: "keypad", GPIO: true}

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
	switch s.Kind {
	case KindMatrix:
		s.checkMatrix(c, p)
	case KindWiegand:
		c.Pin(p+".d0", s.D0)
		c.Pin(p+".d1", s.D1)
		if len(s.Rows)+len(s.Cols)+len(s.Layout) > 0 || s.Debounce != 0 {
			c.Fail(p, "a wiegand keypad has d0 and d1, not rows, cols, layout or debounce")
		}
		driver.Between(c, p+".frame_gap", s.FrameGap, 5*time.Millisecond, 200*time.Millisecond, "")
	default:
		c.Fail(p+".kind", "must be matrix or wiegand, not %q", s.Kind)
	}
}

func (s Settings) checkMatrix(c driver.Check, p string) {
	if s.D0 != "" || s.D1 != "" || s.FrameGap != 0 {
		c.Fail(p, "a matrix keypad has rows and cols, not d0, d1 or frame_gap")
	}
	for _, side := range []struct {
		name string
		pins []string
	}{{"rows", s.Rows}, {"cols", s.Cols}} {
		if len(side.pins) < 1 || len(side.pins) > 8 {
			c.Fail(p+"."+side.name, "must list 1 to 8 pins")
		}
		for j, pin := range side.pins {
			c.Pin(fmt.Sprintf("%s.%s[%d]", p, side.name, j), pin)
		}
	}
	driver.Between(c, p+".debounce", s.Debounce, time.Millisecond, 200*time.Millisecond, "")
	if len(s.Layout) == 0 {
		if len(s.Rows) != 4 || len(s.Cols) != 4 {
			c.Fail(p+".layout", "required unless the keypad is 4x4 (the default layout is 123A 456B 789C *0#D)")
		}
		return
	}
	if len(s.Layout) != len(s.Rows) {
		c.Fail(p+".layout", "has %d rows for %d row pins", len(s.Layout), len(s.Rows))
	}
	for j, row := range s.Layout {
		if len(row) != len(s.Cols) {
			c.Fail(fmt.Sprintf("%s.layout[%d]", p, j), "has %d keys for %d column pins", len(row), len(s.Cols))
		}
		for _, key := range []byte(row) {
			if !Key(key).Valid() {
				c.Fail(fmt.Sprintf("%s.layout[%d]", p, j), "keys are 0-9, *, # and A-D, not %q", key)
				break
			}
		}
	}
}

// layout turns the settings' rows of keys into a keypad layout; nil for the default.
func layout(rows []string) [][]Key {
	var out [][]Key
	for _, r := range rows {
		row := make([]Key, len(r))
		for i := range len(r) {
			row[i] = Key(r[i])
		}
		out = append(out, row)
	}
	return out
}

// Open implements driver.Settings. A keypad whose lines do not open is reported
// failed, and the other drivers run (docs/adr/0014-drivers-fail-soft.md).
func (s Settings) Open(env driver.Env) (driver.Loaded, error) {
	onKey := func(k Key) { env.Input(driver.Input{Key: byte(k)}) }
	var halt, closeFn func() error
	switch s.Kind {
	case KindMatrix:
		m, err := OpenMatrix(MatrixConfig{Rows: s.Rows, Cols: s.Cols, Layout: layout(s.Layout),
			Debounce: s.Debounce, ByName: env.Pins, OnKey: onKey, Logger: env.Log})
		if err != nil {
			return driver.Loaded{}, err
		}
		halt, closeFn = m.Halt, m.Close
	case KindWiegand:
		w, err := OpenWiegand(WiegandConfig{D0: s.D0, D1: s.D1, FrameGap: s.FrameGap,
			ByName: env.Pins, OnKey: onKey, Logger: env.Log})
		if err != nil {
			return driver.Loaded{}, err
		}
		halt, closeFn = w.Halt, w.Close
	default:
		return driver.Loaded{}, driver.Refused(fmt.Errorf("unknown keypad kind %q", s.Kind))
	}
	env.Health(true, "")
	return driver.Loaded{Halt: halt, Close: closeFn, Input: true, Attrs: []any{"keypad", s.Kind}}, nil
}
