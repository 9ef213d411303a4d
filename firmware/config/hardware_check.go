package config

import (
	"strings"

	"github.com/lockerd/lockerd/drivers/driver"
)

type driverInfo struct {
	path     string // where it is declared, for duplicate messages
	settings driver.Settings
}

// hwCheck validates the hardware section: each driver checks its own settings
// (driver.Settings.Check), and hwCheck holds what must be unique across all drivers of
// all kinds. Names, ports and pins: two drivers on one GPIO line or one serial port
// would fight over it on site, and only the config can catch that before they do.
type hwCheck struct {
	*validator
	drivers map[string]driverInfo
	ports   map[string]string // port -> driver name
	pins    map[string]string // normalised pin name -> path of its first use
}

var _ driver.Check = (*hwCheck)(nil)

func (v *validator) hardware(h *Hardware) *hwCheck {
	c := &hwCheck{validator: v, drivers: map[string]driverInfo{}, ports: map[string]string{}, pins: map[string]string{}}
	for _, d := range h.Drivers() {
		d.Settings.Check(c, d.Path)
	}
	h.Panel.Check(c, "hardware.panel")
	return c
}

// Fail implements driver.Check.
func (c *hwCheck) Fail(path, format string, args ...any) { c.fail(path, format, args...) }

// Name implements driver.Check: it checks a driver's name and records it.
func (c *hwCheck) Name(p, name string, s driver.Settings) {
	switch other, dup := c.drivers[name]; {
	case name == "":
		c.fail(p+".name", "required")
	case !lockerIDPattern.MatchString(name):
		c.fail(p+".name", "must be 1-64 letters, digits, '.', '_' or '-'")
	case dup:
		c.fail(p+".name", "duplicate driver name %q (also %s)", name, other.path)
	default:
		c.drivers[name] = driverInfo{path: p, settings: s}
	}
}

// Port implements driver.Check.
func (c *hwCheck) Port(p, port, name string) {
	if port == "" {
		c.fail(p, "required (prefer a /dev/serial/by-id/... path)")
	} else if other, dup := c.ports[port]; dup {
		c.fail(p, "port already used by %q", other)
	} else {
		c.ports[port] = name
	}
}

// Pin implements driver.Check: it checks a GPIO line name and that no other line of
// any driver uses it. Names are compared without case: gpio5 and GPIO5 are the same
// line to an installer.
func (c *hwCheck) Pin(p, pin string) {
	key := strings.ToUpper(pin)
	switch other, dup := c.pins[key]; {
	case pin == "":
		c.fail(p, "required: a GPIO line name such as GPIO17")
	case strings.ContainsAny(pin, " \t/"):
		c.fail(p, "%q is not a GPIO line name (want e.g. GPIO17)", pin)
	case dup:
		c.fail(p, "pin %s already used by %s", pin, other)
	default:
		c.pins[key] = p
	}
}

// door checks a compartment's door address against the declared drivers.
func (c *hwCheck) door(p string, id int, d Door, addrs map[string]int) {
	info, ok := c.drivers[d.Driver]
	if !ok {
		c.fail(p+".driver", "unknown driver %q (declare it under hardware)", d.Driver)
		return
	}
	doors, ok := info.settings.(driver.Doors)
	if !ok {
		c.fail(p+".driver", "%q is a %s, not a door driver", d.Driver, info.settings.DriverKind().Noun)
		return
	}
	key, ok := doors.CheckDoor(c, p, d.Driver, d.Board, d.Lock)
	if !ok {
		return
	}
	if other, dup := addrs[key]; dup {
		c.fail(p, "%s already opens compartment %d", key, other)
		return
	}
	addrs[key] = id
}
