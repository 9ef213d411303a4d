package gpiodoor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lockerd/lockerd/drivers/driver"
)

// Line levels for RelayActive and SensorOpen.
const (
	LevelLow  = "low"
	LevelHigh = "high"
)

// Settings is a set of doors wired to the Pi's GPIO header, as an entry of
// hardware.gpio_doors in the config file: per door a relay line that pulses a
// solenoid lock and a reed-switch line that senses the door. Settings here are the
// defaults of every door; a door may override the line levels and the pulse. It
// implements driver.Settings (docs/adr/0042-driver-registry.md).
type Settings struct {
	Name     string        `yaml:"name"`
	Disabled bool          `yaml:"disabled,omitempty"`
	Pulse    time.Duration `yaml:"pulse,omitempty"`    // default 500ms, at most 2s
	Debounce time.Duration `yaml:"debounce,omitempty"` // default 20ms, at most 1s
	// RelayActive is the level that energises a relay: low (default; most Pi relay
	// boards) or high.
	RelayActive string `yaml:"relay_active,omitempty"`
	// SensorOpen is the level a sensor reads while its door is open: high (default; a
	// reed switch to GND with a pull-up reads low while the door is shut) or low.
	SensorOpen string         `yaml:"sensor_open,omitempty"`
	SensorPull string         `yaml:"sensor_pull,omitempty"` // up (default), down or none
	Doors      []DoorSettings `yaml:"doors"`
}

// DoorSettings is one door of a set. Pin names are those periph's gpioreg knows, BCM
// numbering: GPIO17, not the header pin number.
type DoorSettings struct {
	Name        string        `yaml:"name,omitempty"` // default: its position, "1", "2", ...
	Disabled    bool          `yaml:"disabled,omitempty"`
	Relay       string        `yaml:"relay"`
	Sensor      string        `yaml:"sensor"`
	RelayActive string        `yaml:"relay_active,omitempty"` // overrides the set's
	SensorOpen  string        `yaml:"sensor_open,omitempty"`  // overrides the set's
	Pulse       time.Duration `yaml:"pulse,omitempty"`        // overrides the set's
}

// DriverKind is the GPIO door set kind of driver.
var DriverKind = driver.Kind{Name: "gpio_doors", Noun: "gpio door set", GPIO: true}

var (
	_ driver.Settings = Settings{}
	_ driver.Doors    = Settings{}
)

// DriverKind implements driver.Settings.
func (s Settings) DriverKind() driver.Kind { return DriverKind }

// DriverName implements driver.Settings.
func (s Settings) DriverName() string { return s.Name }

// IsDisabled implements driver.Settings.
func (s Settings) IsDisabled() bool { return s.Disabled }

// DoorName is the name the driver gives the door at index i of the list.
func (s Settings) DoorName(i int) string {
	if n := s.Doors[i].Name; n != "" {
		return n
	}
	return strconv.Itoa(i + 1)
}

// Check implements driver.Settings. The config refuses a pulse over MaxPulse, which
// the driver would clamp, so that a typo is caught on the bench, not in the field.
func (s Settings) Check(c driver.Check, p string) {
	c.Name(p, s.Name, s)
	checkPulse(c, p+".pulse", s.Pulse)
	driver.Between(c, p+".debounce", s.Debounce, time.Millisecond, time.Second, " (10-30ms suits reed switches)")
	checkLevel(c, p+".relay_active", s.RelayActive, LevelLow)
	checkLevel(c, p+".sensor_open", s.SensorOpen, LevelHigh)
	switch s.SensorPull {
	case "", "up", "down", "none":
	default:
		c.Fail(p+".sensor_pull", "must be up, down or none, not %q", s.SensorPull)
	}
	if len(s.Doors) == 0 {
		c.Fail(p+".doors", "at least one door")
	}
	names := map[string]bool{}
	for j, d := range s.Doors {
		dp := fmt.Sprintf("%s.doors[%d]", p, j)
		if n := s.DoorName(j); names[n] {
			c.Fail(dp+".name", "duplicate door name %q in this set", n)
		} else {
			names[n] = true
		}
		c.Pin(dp+".relay", d.Relay)
		// The door closing is what confirms a deposit: a door without a sensor
		// could never complete one.
		if d.Sensor == "" {
			c.Fail(dp+".sensor", "required: a locker door needs a door sensor (the door closing confirms a deposit)")
		} else {
			c.Pin(dp+".sensor", d.Sensor)
		}
		checkLevel(c, dp+".relay_active", d.RelayActive, "the set's")
		checkLevel(c, dp+".sensor_open", d.SensorOpen, "the set's")
		checkPulse(c, dp+".pulse", d.Pulse)
	}
}

func checkLevel(c driver.Check, p, val, dflt string) {
	if val != "" && val != LevelLow && val != LevelHigh {
		c.Fail(p, "must be low or high, not %q (default %s)", val, dflt)
	}
}

func checkPulse(c driver.Check, p string, d time.Duration) {
	if d < 0 || d > MaxPulse {
		c.Fail(p, "must be at most %v, the hard ceiling that keeps a solenoid from burning out (500ms is usual)", MaxPulse)
	} else if d != 0 && d < 20*time.Millisecond {
		c.Fail(p, "must be at least 20ms: a shorter pulse does not release a solenoid lock")
	}
}

// CheckDoor implements driver.Doors: a door is addressed by its position in the set
// (lock: 1 is the first), with no board.
func (s Settings) CheckDoor(c driver.Check, p, name string, board, lock int) (string, bool) {
	if board != 0 {
		c.Fail(p+".board", "gpio doors have no board: leave it out")
		return "", false
	}
	if lock < 1 || lock > len(s.Doors) {
		c.Fail(p+".lock", "must be 1..%d, the door's position in %q's doors", len(s.Doors), name)
		return "", false
	}
	return fmt.Sprintf("door %s/%d", name, lock), true
}

// DoorConfigs lays each door's overrides over its set's settings.
func (s Settings) DoorConfigs() []DoorConfig {
	pick := func(door, set string) string {
		if door != "" {
			return door
		}
		return set
	}
	var out []DoorConfig
	for i, d := range s.Doors {
		pulse := d.Pulse
		if pulse == 0 {
			pulse = s.Pulse
		}
		out = append(out, DoorConfig{Name: s.DoorName(i), Disabled: d.Disabled,
			Relay: d.Relay, RelayActiveHigh: pick(d.RelayActive, s.RelayActive) == LevelHigh, Pulse: pulse,
			Sensor: d.Sensor, SensorOpenLow: pick(d.SensorOpen, s.SensorOpen) == LevelLow,
			SensorPull: s.SensorPull, Debounce: s.Debounce})
	}
	return out
}

// Open implements driver.Settings. Doors whose lines fail to open are reported in
// the driver's health, and the others work.
func (s Settings) Open(env driver.Env) (driver.Loaded, error) {
	set := &doorSet{name: s.Name, doors: s.DoorConfigs(), pos: map[string]int{}, failed: map[string]string{},
		faults: map[string]string{}}
	for i, d := range set.doors {
		set.pos[d.Name] = i + 1
	}
	// The callbacks run on the driver's goroutine, possibly before Open returns: they
	// touch only what is complete by now, and set.faults under set.mu.
	drv, err := Open(Config{Doors: set.doors, ByName: env.Pins, Logger: env.Log,
		OnChange: func(c Change) { env.Door(0, set.pos[c.Door], c.Open) },
		OnFault: func(f Fault) {
			set.mu.Lock()
			if f.Cleared {
				delete(set.faults, f.Door)
			} else {
				set.faults[f.Door] = f.Reason
			}
			reason := set.reason()
			set.mu.Unlock()
			env.Health(reason == "", reason)
		}})
	if err != nil {
		if errors.Is(err, ErrConfig) {
			return driver.Loaded{}, driver.Refused(err)
		}
		return driver.Loaded{}, err
	}
	set.drv = drv
	loaded := 0
	set.mu.Lock()
	for _, st := range drv.Statuses() {
		if st.Load == Failed {
			set.failed[st.Door] = st.Reason
		} else if st.Load == Loaded {
			loaded++
		}
	}
	reason := set.reason()
	set.mu.Unlock()
	env.Health(reason == "", reason)
	return driver.Loaded{Halt: drv.Halt, Close: drv.Close, Door: set.door,
		Attrs: []any{"doors", len(set.doors), "doors_loaded", loaded}}, nil
}

// doorSet is an opened set and what its doors report.
type doorSet struct {
	name   string
	drv    *Driver
	doors  []DoorConfig
	pos    map[string]int    // door name -> position, 1-based
	failed map[string]string // door -> why it did not load; written before Open returns

	mu     sync.Mutex
	faults map[string]string // door -> active sensor fault
}

// reason summarises failed doors and sensor faults, or "" when all is well. The
// caller holds s.mu.
func (s *doorSet) reason() string {
	var parts []string
	for door, why := range s.failed {
		parts = append(parts, fmt.Sprintf("door %s failed: %s", door, why))
	}
	for door, why := range s.faults {
		parts = append(parts, fmt.Sprintf("door %s sensor fault: %s", door, why))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// door finds the door at a position (board 0), or nil.
func (s *doorSet) door(board, lock int) driver.Door {
	if lock < 1 || lock > len(s.doors) {
		return nil
	}
	cfg := s.doors[lock-1]
	return gpioDoor{set: s, cfg: cfg, ok: !cfg.Disabled && s.failed[cfg.Name] == ""}
}

// gpioDoor is a relay and reed switch on GPIO.
type gpioDoor struct {
	set *doorSet
	cfg DoorConfig
	ok  bool // its lines opened
}

func (d gpioDoor) Loaded() bool { return d.ok }

func (d gpioDoor) Unlock(ctx context.Context) error { return d.set.drv.Pulse(ctx, d.cfg.Name) }

func (d gpioDoor) State() (open, known bool) {
	open, err := d.set.drv.DoorOpen(d.cfg.Name)
	return open, err == nil
}

func (d gpioDoor) String() string {
	return fmt.Sprintf("%s door %s (relay %s, sensor %s)", d.set.name, d.cfg.Name, d.cfg.Relay, d.cfg.Sensor)
}
