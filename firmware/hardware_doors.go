package firmware

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"

	"github.com/lockerd/lockerd/drivers/gpiodoor"
	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/locker"
)

// doorAddr keys a door by driver and address; gpio doors have board 0 and their
// position as lock, as in the config.
func doorAddr(d config.Door) string { return fmt.Sprintf("%s/%d/%d", d.Driver, d.Board, d.Lock) }

// resolve finds the door at a compartment's address, or nil if its driver is not loaded.
func (h *Hardware) resolve(d config.Door) door {
	if bus, ok := h.buses[d.Driver]; ok {
		return busDoor{bus: bus, name: d.Driver, board: d.Board, lock: d.Lock}
	}
	if set, ok := h.gpio[d.Driver]; ok && d.Lock >= 1 && d.Lock <= len(set.doors) {
		cfg := set.doors[d.Lock-1]
		return gpioDoor{set: set, cfg: cfg, ok: !cfg.Disabled && set.failed[cfg.Name] == ""}
	}
	return nil
}

// busDoor is a lock on an RS-485 lock board.
type busDoor struct {
	bus         *lockboard.Bus
	name        string
	board, lock int
}

// unlock pulses the lock. A frame that went out unconfirmed is told to the station as
// such (locker.ErrUnlockUnconfirmed): it must wait for the door, not undo the operation.
func (d busDoor) unlock(ctx context.Context) error {
	err := d.bus.Unlock(ctx, d.board, d.lock)
	if errors.Is(err, lockboard.ErrUnconfirmed) {
		return fmt.Errorf("%w: %w", locker.ErrUnlockUnconfirmed, err)
	}
	return err
}

func (d busDoor) state() (open, known bool) {
	s, err := d.bus.State(d.board, d.lock)
	if err != nil {
		return false, false
	}
	return busDoorOpen(s.HasDoor, s.DoorOpen, s.LockOpen), true
}

func (d busDoor) loaded() bool { return true } // a bus that is down comes back by itself

func (d busDoor) String() string { return fmt.Sprintf("%s board %d lock %d", d.name, d.board, d.lock) }

// busDoorOpen reads a lock's state as a door state: boards with door sensors report the
// door; boards without report the latch, which is open exactly while the door is.
func busDoorOpen(hasDoor, doorOpen, lockOpen bool) bool {
	if hasDoor {
		return doorOpen
	}
	return lockOpen
}

func (h *Hardware) openLockBoard(lb config.LockBoard) error {
	p := h.register(lb.Name, KindLockBoard, "port not opened yet")
	if lb.Disabled {
		h.notLoaded(p, Skipped, "disabled in config")
		return nil
	}
	bc, err := busConfig(lb)
	if err != nil {
		return fmt.Errorf("firmware: driver %s: %w", lb.Name, err)
	}
	name := lb.Name
	bc.Logger = h.log.With("driver", name)
	bc.OnChange = func(ch lockboard.Change) {
		h.doorChanged(fmt.Sprintf("%s/%d/%d", name, ch.Board, ch.Lock), busDoorOpen(ch.HasDoor, ch.DoorOpen, ch.LockOpen))
	}
	bc.OnHealth = func(hl lockboard.Health) { h.setHealth(p, hl.OK, hl.Reason) }
	bus, err := lockboard.Open(bc)
	if err != nil {
		h.notLoaded(p, Failed, err.Error())
		return nil
	}
	h.buses[name] = bus
	h.add(name, bus.Halt, bus.Close)
	h.loaded(p, "protocol", lb.Protocol, "port", lb.Port, "boards", len(lb.Boards))
	return nil
}

func busConfig(lb config.LockBoard) (lockboard.Config, error) {
	proto, err := lockboard.ParseProtocol(lb.Protocol)
	if err != nil {
		return lockboard.Config{}, err
	}
	bc := lockboard.Config{Path: lb.Port, Protocol: proto, BaudRate: lb.Baud, PollInterval: lb.Poll,
		ReplyTimeout: lb.ReplyTimeout, Retries: lb.Retries}
	for _, b := range lb.Boards {
		pol, err := lockboard.ParsePolarity(b.Polarity)
		if err != nil {
			return bc, err
		}
		spol, err := lockboard.ParsePolarity(b.SensorPolarity)
		if err != nil {
			return bc, err
		}
		bc.Boards = append(bc.Boards, lockboard.BoardConfig{Addr: b.Addr, Locks: b.Locks, Polarity: pol,
			DoorSensors: b.DoorSensors, SensorPolarity: spol})
	}
	return bc, nil
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

// gpioSet is one gpio_doors driver and what its doors report.
type gpioSet struct {
	name   string
	drv    *gpiodoor.Driver
	doors  []gpiodoor.DoorConfig
	pos    map[string]int    // door name -> position, 1-based
	failed map[string]string // door -> why it did not load
	faults map[string]string // door -> active sensor fault
}

// reason summarises failed doors and sensor faults, or "" when all is well.
func (s *gpioSet) reason() string {
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

// gpioDoor is a relay and reed switch on GPIO.
type gpioDoor struct {
	set *gpioSet
	cfg gpiodoor.DoorConfig
	ok  bool // its lines opened
}

func (d gpioDoor) loaded() bool { return d.ok }

func (d gpioDoor) unlock(ctx context.Context) error { return d.set.drv.Pulse(ctx, d.cfg.Name) }

func (d gpioDoor) state() (open, known bool) {
	open, err := d.set.drv.DoorOpen(d.cfg.Name)
	return open, err == nil
}

func (d gpioDoor) String() string {
	return fmt.Sprintf("%s door %s (relay %s, sensor %s)", d.set.name, d.cfg.Name, d.cfg.Relay, d.cfg.Sensor)
}

// gpioConfig lays each door's overrides over its set's settings.
func gpioConfig(g config.GPIODoors) []gpiodoor.DoorConfig {
	pick := func(door, set string) string {
		if door != "" {
			return door
		}
		return set
	}
	var out []gpiodoor.DoorConfig
	for i, d := range g.Doors {
		pulse := d.Pulse
		if pulse == 0 {
			pulse = g.Pulse
		}
		out = append(out, gpiodoor.DoorConfig{Name: g.DoorName(i), Disabled: d.Disabled,
			Relay: d.Relay, RelayActiveHigh: pick(d.RelayActive, g.RelayActive) == config.LevelHigh, Pulse: pulse,
			Sensor: d.Sensor, SensorOpenLow: pick(d.SensorOpen, g.SensorOpen) == config.LevelLow,
			SensorPull: g.SensorPull, Debounce: g.Debounce})
	}
	return out
}

func (h *Hardware) openGPIODoors(g config.GPIODoors, byName func(string) gpio.PinIO) error {
	p := h.register(g.Name, KindGPIODoors, "")
	switch {
	case g.Disabled:
		h.notLoaded(p, Skipped, "disabled in config")
		return nil
	case byName == nil:
		h.notLoaded(p, Failed, "GPIO unavailable: periph host drivers did not initialise")
		return nil
	}
	set := &gpioSet{name: g.Name, doors: gpioConfig(g), pos: map[string]int{}, failed: map[string]string{},
		faults: map[string]string{}}
	for i, d := range set.doors {
		set.pos[d.Name] = i + 1
	}
	// The callbacks run on the driver's goroutine, possibly before Open returns: they
	// touch only what is complete by now, and set.faults under h.mu.
	drv, err := gpiodoor.Open(gpiodoor.Config{Doors: set.doors, ByName: byName, Logger: h.log.With("driver", g.Name),
		OnChange: func(c gpiodoor.Change) {
			h.doorChanged(fmt.Sprintf("%s/0/%d", g.Name, set.pos[c.Door]), c.Open)
		},
		OnFault: func(f gpiodoor.Fault) {
			h.mu.Lock()
			if f.Cleared {
				delete(set.faults, f.Door)
			} else {
				set.faults[f.Door] = f.Reason
			}
			reason := set.reason()
			h.mu.Unlock()
			h.setHealth(p, reason == "", reason)
		}})
	if err != nil {
		if errors.Is(err, gpiodoor.ErrConfig) {
			return fmt.Errorf("firmware: driver %s: %w", g.Name, err)
		}
		h.notLoaded(p, Failed, err.Error())
		return nil
	}
	set.drv = drv
	loaded := 0
	h.mu.Lock()
	for _, st := range drv.Statuses() {
		if st.Load == gpiodoor.Failed {
			set.failed[st.Door] = st.Reason
		} else if st.Load == gpiodoor.Loaded {
			loaded++
		}
	}
	reason := set.reason()
	h.mu.Unlock()
	h.gpio[g.Name] = set
	h.add(g.Name, drv.Halt, drv.Close)
	h.setHealth(p, reason == "", reason)
	h.loaded(p, "doors", len(set.doors), "doors_loaded", loaded)
	return nil
}
