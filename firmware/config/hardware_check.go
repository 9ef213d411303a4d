package config

import (
	"path/filepath"
	"regexp"
	"strconv"
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
	} else if !filepath.IsAbs(port) {
		// The daemon's working directory is /: ttyUSB0 would be /ttyUSB0.
		c.fail(p, "%q is not an absolute path: /dev/%s, or better the adapter's /dev/serial/by-id/... link, which stays the same when adapters are replugged", port, strings.TrimPrefix(port, "dev/"))
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
	case mistyped(pin) != "":
		c.fail(p, "%q is not a GPIO line name: did you mean %s? (the letters G P I O, then the BCM number)", pin, mistyped(pin))
	case dup:
		c.fail(p, "pin %s already used by %s", pin, other)
	default:
		c.pins[key] = p
	}
}

// gpioLike is a name meant as GPIO<n>: GP, then I/1/l, then O/0 or nothing, then the
// number; GPI05 (a zero for the O) is the usual slip.
var gpioLike = regexp.MustCompile(`^(?i)gp[i1l][o0]?([0-9]+)$`)

// mistyped returns the GPIO<n> name that pin was meant to be, or "" when pin is one
// already or does not look like one (periph's registry knows other names too, P1_11,
// and the board's own line names: the host check resolves those).
func mistyped(pin string) string {
	m := gpioLike.FindStringSubmatch(pin)
	if m == nil {
		return ""
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n > 999 {
		return ""
	}
	if want := "GPIO" + strconv.Itoa(n); !strings.EqualFold(pin, want) {
		return want
	}
	return ""
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
