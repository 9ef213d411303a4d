package lockboard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/drivers/driver"
	"github.com/lockerd/lockerd/drivers/serialport"
	"github.com/lockerd/lockerd/locker"
)

// Settings is one RS-485 bus with lock-control boards on it, as an entry of
// hardware.lockboards in the config file (docs/hardware.md). It implements
// driver.Settings: the daemon checks and opens it without knowing this package
// (docs/adr/0042-driver-registry.md).
type Settings struct {
	Name         string          `yaml:"name"`
	Disabled     bool            `yaml:"disabled,omitempty"`
	Port         string          `yaml:"port"`     // prefer /dev/serial/by-id/...
	Protocol     string          `yaml:"protocol"` // cu16 or 8a
	Baud         int             `yaml:"baud"`
	Poll         time.Duration   `yaml:"poll"`
	ReplyTimeout time.Duration   `yaml:"reply_timeout"`
	Retries      int             `yaml:"retries"`
	Boards       []BoardSettings `yaml:"boards"`
}

// BoardSettings is one lock-control board on a bus.
type BoardSettings struct {
	Addr           int    `yaml:"addr"`
	Locks          int    `yaml:"locks"`
	Polarity       string `yaml:"polarity"` // set-closed (default) or set-open
	DoorSensors    bool   `yaml:"door_sensors"`
	SensorPolarity string `yaml:"sensor_polarity"`
}

// DriverKind is the lock-board bus kind of driver.
var DriverKind = driver.Kind{Name: "lockboard", Noun: "lock-board bus", Pending: "port not opened yet"}

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

// limits are the board addresses and the most locks on a board for the settings'
// protocol; an unknown protocol (reported by Check) gets CU16's.
func (s Settings) limits() (lo, hi, max int) {
	if s.Protocol == "8a" {
		return 1, 255, 24
	}
	return 0, 15, 16
}

// boards maps each board's address to its locks, the protocol's maximum when
// unset; the last of duplicate addresses counts.
func (s Settings) boards() map[int]int {
	_, _, max := s.limits()
	out := map[int]int{}
	for _, b := range s.Boards {
		out[b.Addr] = b.Locks
		if b.Locks == 0 {
			out[b.Addr] = max
		}
	}
	return out
}

// Check implements driver.Settings.
func (s Settings) Check(c driver.Check, p string) {
	c.Port(p+".port", s.Port, s.Name)
	lo, hi, max := s.limits()
	switch s.Protocol {
	case "cu16", "8a":
	default:
		c.Fail(p+".protocol", "must be cu16 or 8a, not %q", s.Protocol)
	}
	driver.Between(c, p+".poll", s.Poll, 50*time.Millisecond, 2*time.Second, " (100-200ms recommended)")
	// The driver's own limits (Config.Validate): outside them it refuses the bus at
	// start and every door on it is dead.
	driver.Between(c, p+".reply_timeout", s.ReplyTimeout, time.Millisecond, 5*time.Second, "")
	s.checkLine(c, p)
	if s.Retries < -1 || s.Retries > 10 {
		c.Fail(p+".retries", "must be -1 (none) .. 10, not %d", s.Retries)
	}
	if len(s.Boards) == 0 {
		c.Fail(p+".boards", "at least one board")
	}
	seen := map[int]bool{}
	for j, b := range s.Boards {
		bp := fmt.Sprintf("%s.boards[%d]", p, j)
		if b.Addr < lo || b.Addr > hi {
			c.Fail(bp+".addr", "must be %d..%d for %s", lo, hi, s.Protocol)
		}
		if seen[b.Addr] {
			c.Fail(bp+".addr", "duplicate board address %d on this bus", b.Addr)
		}
		seen[b.Addr] = true
		locks := b.Locks
		if locks == 0 {
			locks = max
		}
		if locks < 1 || locks > max {
			c.Fail(bp+".locks", "must be 1..%d", max)
		}
		if b.DoorSensors && s.Protocol == "8a" {
			c.Fail(bp+".door_sensors", "8a boards have no sensor inputs")
		}
		for _, pol := range []struct{ name, val string }{{"polarity", b.Polarity}, {"sensor_polarity", b.SensorPolarity}} {
			if pol.val != "" && pol.val != "set-closed" && pol.val != "set-open" {
				c.Fail(bp+"."+pol.name, "must be set-closed or set-open, not %q", pol.val)
			}
		}
	}
	c.Name(p, s.Name, s)
}

// checkLine checks the line speed, which the serial port refuses at every open unless
// it is a standard rate, and that a reply fits in reply_timeout at that speed: a
// shorter timeout gives up on every reply before its last byte arrives, and the bus
// reports every board dead.
func (s Settings) checkLine(c driver.Check, p string) {
	proto, err := ParseProtocol(s.Protocol)
	if err != nil {
		proto = ProtocolCU16 // reported above; judge the rest by CU16's defaults
	}
	baud := s.Baud
	switch {
	case baud == 0:
		baud = proto.BaudRate()
	case !serialport.ValidRate(baud):
		c.Fail(p+".baud", "must be a standard rate such as 9600 or 19200 (the boards' setting; %s boards ship at %d), not %d", proto, proto.BaudRate(), s.Baud)
		return
	}
	if s.ReplyTimeout == 0 || s.ReplyTimeout < time.Millisecond {
		return // the default, or reported above
	}
	n := replyLen(proto)
	wire := time.Duration(n*bitsPerByte) * time.Second / time.Duration(baud)
	// The board answers after its own turnaround: twice the time on the wire is the
	// least that leaves it any.
	least := (2*wire + time.Millisecond - 1) / time.Millisecond * time.Millisecond
	if s.ReplyTimeout < least {
		c.Fail(p+".reply_timeout", "%v is shorter than a %d-byte %s reply takes at %d baud (%.1fms) with the board's turnaround: at least %v (default %v)",
			s.ReplyTimeout, n, proto, baud, float64(wire)/float64(time.Millisecond), least, DefaultReplyTimeout)
	}
}

// bitsPerByte: 8N1 framing, a start bit, eight data bits and a stop bit.
const bitsPerByte = 10

// replyLen is the longest reply of the protocol, in bytes.
func replyLen(p Protocol) int {
	if p == Protocol8A {
		return p8aLongLen
	}
	return cu16ReplyLen
}

// CheckDoor implements driver.Doors: a door is a lock on a declared board.
func (s Settings) CheckDoor(c driver.Check, p, name string, board, lock int) (string, bool) {
	locks, ok := s.boards()[board]
	if !ok {
		c.Fail(p+".board", "board %d is not declared on %q", board, name)
		return "", false
	}
	if lock < 1 || lock > locks {
		c.Fail(p+".lock", "must be 1..%d on board %d", locks, board)
		return "", false
	}
	return fmt.Sprintf("lock %s/%d/%d", name, board, lock), true
}

// Config converts the settings (already checked) to a bus Config without callbacks.
func (s Settings) Config() (Config, error) {
	proto, err := ParseProtocol(s.Protocol)
	if err != nil {
		return Config{}, err
	}
	bc := Config{Path: s.Port, Protocol: proto, BaudRate: s.Baud, PollInterval: s.Poll,
		ReplyTimeout: s.ReplyTimeout, Retries: s.Retries}
	for _, b := range s.Boards {
		pol, err := ParsePolarity(b.Polarity)
		if err != nil {
			return bc, err
		}
		spol, err := ParsePolarity(b.SensorPolarity)
		if err != nil {
			return bc, err
		}
		bc.Boards = append(bc.Boards, BoardConfig{Addr: b.Addr, Locks: b.Locks, Polarity: pol,
			DoorSensors: b.DoorSensors, SensorPolarity: spol})
	}
	return bc, nil
}

// Open implements driver.Settings: it opens the bus, which then opens its port and
// polls by itself; a bus that is down comes back by itself.
func (s Settings) Open(env driver.Env) (driver.Loaded, error) {
	bc, err := s.Config()
	if err != nil {
		return driver.Loaded{}, driver.Refused(err)
	}
	bc.Logger = env.Log
	bc.OnChange = func(ch Change) { env.Door(ch.Board, ch.Lock, doorOpen(ch.HasDoor, ch.DoorOpen, ch.LockOpen)) }
	bc.OnHealth = func(h Health) { env.Health(h.OK, h.Reason) }
	bus, err := Open(bc)
	if err != nil {
		return driver.Loaded{}, err
	}
	name := s.Name
	return driver.Loaded{Halt: bus.Halt, Close: bus.Close,
		Door: func(board, lock int) driver.Door {
			return busDoor{bus: bus, name: name, board: board, lock: lock}
		},
		Attrs: []any{"protocol", s.Protocol, "port", s.Port, "boards", len(s.Boards)}}, nil
}

// busDoor is a lock on a board of the bus.
type busDoor struct {
	bus         *Bus
	name        string
	board, lock int
}

// Unlock pulses the lock. A frame that went out unconfirmed is told to the station as
// such (locker.ErrUnlockUnconfirmed): it must wait for the door, not undo the
// operation (docs/adr/0010-lockboard-unlock-sent-once.md).
func (d busDoor) Unlock(ctx context.Context) error {
	err := d.bus.Unlock(ctx, d.board, d.lock)
	if errors.Is(err, ErrUnconfirmed) {
		return fmt.Errorf("%w: %w", locker.ErrUnlockUnconfirmed, err)
	}
	return err
}

func (d busDoor) State() (open, known bool) {
	s, err := d.bus.State(d.board, d.lock)
	if err != nil {
		return false, false
	}
	return doorOpen(s.HasDoor, s.DoorOpen, s.LockOpen), true
}

func (d busDoor) Loaded() bool { return true } // a bus that is down comes back by itself

func (d busDoor) String() string { return fmt.Sprintf("%s board %d lock %d", d.name, d.board, d.lock) }

// doorOpen reads a lock's state as a door state: boards with door sensors report the
// door; boards without report the latch, which is open exactly while the door is.
func doorOpen(hasDoor, doorOpen, lockOpen bool) bool {
	if hasDoor {
		return doorOpen
	}
	return lockOpen
}
