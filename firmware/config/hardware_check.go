package config

import (
	"fmt"
	"strings"
	"time"
)

// Driver kinds as the validator and its messages name them.
const (
	kindLockBoard = "lock-board bus"
	kindGPIODoors = "gpio door set"
	kindScanner   = "scanner"
	kindKeypad    = "keypad"
)

type driverInfo struct {
	kind   string
	path   string      // where it is declared, for duplicate messages
	boards map[int]int // lock boards: board address -> locks
	doors  int         // gpio doors: how many
}

// hwCheck validates the hardware section. Names, ports and pins are unique across all
// drivers of all kinds: two drivers on one GPIO line or one serial port would fight
// over it on site, and only the config can catch that before they do.
type hwCheck struct {
	*validator
	drivers map[string]driverInfo
	ports   map[string]string // port -> driver name
	pins    map[string]string // normalised pin name -> path of its first use
}

func (v *validator) hardware(h *Hardware) map[string]driverInfo {
	c := &hwCheck{validator: v, drivers: map[string]driverInfo{}, ports: map[string]string{}, pins: map[string]string{}}
	for i, lb := range h.LockBoards {
		c.lockBoard(fmt.Sprintf("hardware.lockboards[%d]", i), lb)
	}
	for i, g := range h.GPIODoors {
		c.gpioDoors(fmt.Sprintf("hardware.gpio_doors[%d]", i), g)
	}
	for i, s := range h.Scanners {
		c.scanner(fmt.Sprintf("hardware.scanners[%d]", i), s)
	}
	for i, k := range h.Keypads {
		c.keypad(fmt.Sprintf("hardware.keypads[%d]", i), k)
	}
	c.panel(h.Panel)
	return c.drivers
}

// name checks a driver's name and records it.
func (c *hwCheck) name(p, name string, info driverInfo) {
	info.path = p
	switch other, dup := c.drivers[name]; {
	case name == "":
		c.fail(p+".name", "required")
	case !lockerIDPattern.MatchString(name):
		c.fail(p+".name", "must be 1-64 letters, digits, '.', '_' or '-'")
	case dup:
		c.fail(p+".name", "duplicate driver name %q (also %s)", name, other.path)
	default:
		c.drivers[name] = info
	}
}

func (c *hwCheck) port(p, port, name string) {
	if port == "" {
		c.fail(p, "required (prefer a /dev/serial/by-id/... path)")
	} else if other, dup := c.ports[port]; dup {
		c.fail(p, "port already used by %q", other)
	} else {
		c.ports[port] = name
	}
}

// pin checks a GPIO line name and that no other line of any driver uses it. Names are
// compared without case: gpio5 and GPIO5 are the same line to an installer.
func (c *hwCheck) pin(p, pin string) {
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

func (c *hwCheck) between(p string, d, lo, hi time.Duration, why string) {
	if d != 0 && (d < lo || d > hi) {
		c.fail(p, "must be between %v and %v%s", lo, hi, why)
	}
}

func (c *hwCheck) lockBoard(p string, lb LockBoard) {
	info := driverInfo{kind: kindLockBoard, boards: map[int]int{}}
	c.port(p+".port", lb.Port, lb.Name)
	lo, hi, max := 0, 15, 16
	switch lb.Protocol {
	case "cu16":
	case "8a":
		lo, hi, max = 1, 255, 24
	default:
		c.fail(p+".protocol", "must be cu16 or 8a, not %q", lb.Protocol)
	}
	c.between(p+".poll", lb.Poll, 50*time.Millisecond, 2*time.Second, " (100-200ms recommended)")
	// The driver's own limits (drivers/lockboard Config.Validate): outside them it
	// refuses the bus at start and every door on it is dead.
	c.between(p+".reply_timeout", lb.ReplyTimeout, time.Millisecond, 5*time.Second, "")
	if lb.Retries < -1 || lb.Retries > 10 {
		c.fail(p+".retries", "must be -1 (none) .. 10, not %d", lb.Retries)
	}
	if len(lb.Boards) == 0 {
		c.fail(p+".boards", "at least one board")
	}
	for j, b := range lb.Boards {
		bp := fmt.Sprintf("%s.boards[%d]", p, j)
		if b.Addr < lo || b.Addr > hi {
			c.fail(bp+".addr", "must be %d..%d for %s", lo, hi, lb.Protocol)
		}
		if _, dup := info.boards[b.Addr]; dup {
			c.fail(bp+".addr", "duplicate board address %d on this bus", b.Addr)
		}
		locks := b.Locks
		if locks == 0 {
			locks = max
		}
		if locks < 1 || locks > max {
			c.fail(bp+".locks", "must be 1..%d", max)
		}
		if b.DoorSensors && lb.Protocol == "8a" {
			c.fail(bp+".door_sensors", "8a boards have no sensor inputs")
		}
		for _, pol := range []struct{ name, val string }{{"polarity", b.Polarity}, {"sensor_polarity", b.SensorPolarity}} {
			if pol.val != "" && pol.val != "set-closed" && pol.val != "set-open" {
				c.fail(bp+"."+pol.name, "must be set-closed or set-open, not %q", pol.val)
			}
		}
		info.boards[b.Addr] = locks
	}
	c.name(p, lb.Name, info)
}

func (c *hwCheck) level(p, val, dflt string) {
	if val != "" && val != LevelLow && val != LevelHigh {
		c.fail(p, "must be low or high, not %q (default %s)", val, dflt)
	}
}

func (c *hwCheck) gpioDoors(p string, g GPIODoors) {
	c.name(p, g.Name, driverInfo{kind: kindGPIODoors, doors: len(g.Doors)})
	c.pulse(p+".pulse", g.Pulse)
	c.between(p+".debounce", g.Debounce, time.Millisecond, time.Second, " (10-30ms suits reed switches)")
	c.level(p+".relay_active", g.RelayActive, LevelLow)
	c.level(p+".sensor_open", g.SensorOpen, LevelHigh)
	switch g.SensorPull {
	case "", "up", "down", "none":
	default:
		c.fail(p+".sensor_pull", "must be up, down or none, not %q", g.SensorPull)
	}
	if len(g.Doors) == 0 {
		c.fail(p+".doors", "at least one door")
	}
	names := map[string]bool{}
	for j, d := range g.Doors {
		dp := fmt.Sprintf("%s.doors[%d]", p, j)
		if n := g.DoorName(j); names[n] {
			c.fail(dp+".name", "duplicate door name %q in this set", n)
		} else {
			names[n] = true
		}
		c.pin(dp+".relay", d.Relay)
		// The door closing is what confirms a deposit: a door without a sensor
		// could never complete one.
		if d.Sensor == "" {
			c.fail(dp+".sensor", "required: a locker door needs a door sensor (the door closing confirms a deposit)")
		} else {
			c.pin(dp+".sensor", d.Sensor)
		}
		c.level(dp+".relay_active", d.RelayActive, "the set's")
		c.level(dp+".sensor_open", d.SensorOpen, "the set's")
		c.pulse(dp+".pulse", d.Pulse)
	}
}

func (c *hwCheck) pulse(p string, d time.Duration) {
	if d < 0 || d > MaxPulse {
		c.fail(p, "must be at most %v, the hard ceiling that keeps a solenoid from burning out (500ms is usual)", MaxPulse)
	} else if d != 0 && d < 20*time.Millisecond {
		c.fail(p, "must be at least 20ms: a shorter pulse does not release a solenoid lock")
	}
}

func (c *hwCheck) scanner(p string, s Scanner) {
	c.name(p, s.Name, driverInfo{kind: kindScanner})
	c.port(p+".port", s.Port, s.Name)
	if s.Baud < 0 || s.Baud > 921600 {
		c.fail(p+".baud", "must be a baud rate up to 921600 (9600 is usual for RS-232 scanners)")
	}
	c.between(p+".silence", s.Silence, 10*time.Millisecond, time.Second, " (80ms suits scanners without a suffix)")
	c.between(p+".dedup_window", s.DedupWindow, 100*time.Millisecond, 10*time.Second, "")
	if s.MaxLen < 0 || s.MaxLen > 4096 {
		c.fail(p+".max_len", "must be 1..4096 bytes")
	}
}

func (c *hwCheck) keypad(p string, k Keypad) {
	c.name(p, k.Name, driverInfo{kind: kindKeypad})
	switch k.Kind {
	case KeypadMatrix:
		c.matrix(p, k)
	case KeypadWiegand:
		c.pin(p+".d0", k.D0)
		c.pin(p+".d1", k.D1)
		if len(k.Rows)+len(k.Cols)+len(k.Layout) > 0 || k.Debounce != 0 {
			c.fail(p, "a wiegand keypad has d0 and d1, not rows, cols, layout or debounce")
		}
		c.between(p+".frame_gap", k.FrameGap, 5*time.Millisecond, 200*time.Millisecond, "")
	default:
		c.fail(p+".kind", "must be matrix or wiegand, not %q", k.Kind)
	}
}

func (c *hwCheck) matrix(p string, k Keypad) {
	if k.D0 != "" || k.D1 != "" || k.FrameGap != 0 {
		c.fail(p, "a matrix keypad has rows and cols, not d0, d1 or frame_gap")
	}
	for _, side := range []struct {
		name string
		pins []string
	}{{"rows", k.Rows}, {"cols", k.Cols}} {
		if len(side.pins) < 1 || len(side.pins) > 8 {
			c.fail(p+"."+side.name, "must list 1 to 8 pins")
		}
		for j, pin := range side.pins {
			c.pin(fmt.Sprintf("%s.%s[%d]", p, side.name, j), pin)
		}
	}
	c.between(p+".debounce", k.Debounce, time.Millisecond, 200*time.Millisecond, "")
	if len(k.Layout) == 0 {
		if len(k.Rows) != 4 || len(k.Cols) != 4 {
			c.fail(p+".layout", "required unless the keypad is 4x4 (the default layout is 123A 456B 789C *0#D)")
		}
		return
	}
	if len(k.Layout) != len(k.Rows) {
		c.fail(p+".layout", "has %d rows for %d row pins", len(k.Layout), len(k.Rows))
	}
	for j, row := range k.Layout {
		if len(row) != len(k.Cols) {
			c.fail(fmt.Sprintf("%s.layout[%d]", p, j), "has %d keys for %d column pins", len(row), len(k.Cols))
		}
		for _, key := range []byte(row) {
			if !(key >= '0' && key <= '9' || key == '*' || key == '#' || key >= 'A' && key <= 'D') {
				c.fail(fmt.Sprintf("%s.layout[%d]", p, j), "keys are 0-9, *, # and A-D, not %q", key)
				break
			}
		}
	}
}

func (c *hwCheck) panel(pn Panel) {
	switch pn.DefaultSize {
	case "", "S", "M", "L", "XL":
	default:
		c.fail("hardware.panel.default_size", "must be S, M, L or XL, not %q (or leave it out to ask)", pn.DefaultSize)
	}
	c.between("hardware.panel.idle", pn.Idle, 5*time.Second, 30*time.Minute, "")
	c.between("hardware.panel.entry_timeout", pn.EntryTimeout, 2*time.Second, 2*time.Minute, "")
}

// door checks a compartment's door address against the declared drivers.
func (v *validator) door(p string, id int, d Door, drivers map[string]driverInfo, addrs map[string]int) {
	info, ok := drivers[d.Driver]
	if !ok {
		v.fail(p+".driver", "unknown driver %q (declare it under hardware)", d.Driver)
		return
	}
	switch info.kind {
	case kindLockBoard:
		locks, ok := info.boards[d.Board]
		if !ok {
			v.fail(p+".board", "board %d is not declared on %q", d.Board, d.Driver)
			return
		}
		if d.Lock < 1 || d.Lock > locks {
			v.fail(p+".lock", "must be 1..%d on board %d", locks, d.Board)
			return
		}
	case kindGPIODoors:
		if d.Board != 0 {
			v.fail(p+".board", "gpio doors have no board: leave it out")
			return
		}
		if d.Lock < 1 || d.Lock > info.doors {
			v.fail(p+".lock", "must be 1..%d, the door's position in %q's doors", info.doors, d.Driver)
			return
		}
	default:
		v.fail(p+".driver", "%q is a %s, not a door driver", d.Driver, info.kind)
		return
	}
	key := fmt.Sprintf("lock %s/%d/%d", d.Driver, d.Board, d.Lock)
	if info.kind == kindGPIODoors {
		key = fmt.Sprintf("door %s/%d", d.Driver, d.Lock)
	}
	if other, dup := addrs[key]; dup {
		v.fail(p, "%s already opens compartment %d", key, other)
		return
	}
	addrs[key] = id
}
