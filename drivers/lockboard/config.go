package lockboard

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lockerd/lockerd/internal/enum"
)

// Polarity says what a set bit in a board's reply means. Boards differ, and
// the same model changes between batches, so it is configured per board.
// Values go to config files and never shift.
type Polarity int

// Polarities.
const (
	// SetMeansClosed: a set bit is a locked lock or a closed door. The default.
	SetMeansClosed Polarity = 0
	// SetMeansOpen: a set bit is an unlocked lock or an open door.
	SetMeansOpen Polarity = 1
)

var polarities = enum.New(enum.Spec[Polarity]{
	Defs: []enum.Def[Polarity]{
		{Value: SetMeansClosed, Name: "set-closed"},
		{Value: SetMeansOpen, Name: "set-open"},
	},
	Aliases: map[string]Polarity{"": SetMeansClosed},
	Unknown: func(s string) error { return fmt.Errorf("lockboard: unknown polarity %q", s) },
	Other:   "Polarity(%d)",
})

// String returns the config name of the polarity.
func (p Polarity) String() string { return polarities.String(p) }

// ParsePolarity parses a config name produced by Polarity.String; the empty
// string is the default.
func ParsePolarity(s string) (Polarity, error) { return polarities.Parse(s) }

// Open reports whether a raw bit means open under this polarity.
func (p Polarity) Open(bit bool) bool { return bit == (p == SetMeansOpen) }

// Bit returns the raw bit that encodes open under this polarity.
func (p Polarity) Bit(open bool) bool { return open == (p == SetMeansOpen) }

// BoardConfig describes one board on a bus.
type BoardConfig struct {
	Addr     int      // board address (CU16 0-15, 8A 1-255)
	Locks    int      // locks wired on the board; 0 means the protocol maximum
	Polarity Polarity // meaning of a lock bit
	// DoorSensors makes a CU16's sensor inputs report doors. Stock Kerong
	// cabinets wire infrared occupancy sensors there instead: leave it off.
	DoorSensors    bool
	SensorPolarity Polarity // meaning of a sensor bit
}

// Config configures a Bus. Zero durations take the defaults below.
type Config struct {
	// Path is the serial device, preferably a stable /dev/serial/by-id link:
	// the bus reopens it by this path after an unplug.
	Path     string
	Protocol Protocol
	BaudRate int // 0: the protocol's default
	Boards   []BoardConfig

	PollInterval    time.Duration // default 150 ms; 100-200 ms is the design range
	ReplyTimeout    time.Duration // per attempt; default 60 ms
	Retries         int           // extra attempts of a status query; default 2, -1 for none
	InterFrameDelay time.Duration // quiet time between frames; default 5 ms
	// DeadCycles is how many poll cycles with no board answering make the
	// bus dead, which closes and reopens the port. Default 3.
	DeadCycles int
	MinBackoff time.Duration // first reopen delay; default 100 ms
	MaxBackoff time.Duration // reopen delay ceiling; default 5 s

	// OnChange and OnHealth are called in order from one goroutine owned by
	// the bus; they may call Unlock and State.
	OnChange func(Change)
	OnHealth func(Health)

	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // default time.Now; timestamps only
}

// Defaults used for zero fields of Config.
const (
	DefaultPollInterval    = 150 * time.Millisecond
	DefaultReplyTimeout    = 60 * time.Millisecond
	DefaultRetries         = 2
	DefaultInterFrameDelay = 5 * time.Millisecond
	DefaultDeadCycles      = 3
	DefaultMinBackoff      = 100 * time.Millisecond
	DefaultMaxBackoff      = 5 * time.Second
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("lockboard: bad config")

func (c Config) withDefaults() Config {
	if c.BaudRate == 0 {
		c.BaudRate = c.Protocol.BaudRate()
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.ReplyTimeout == 0 {
		c.ReplyTimeout = DefaultReplyTimeout
	}
	switch {
	case c.Retries == 0:
		c.Retries = DefaultRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.InterFrameDelay == 0 {
		c.InterFrameDelay = DefaultInterFrameDelay
	}
	if c.DeadCycles == 0 {
		c.DeadCycles = DefaultDeadCycles
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	for i := range c.Boards {
		if c.Boards[i].Locks == 0 {
			c.Boards[i].Locks = c.Protocol.MaxLocks()
		}
	}
	return c
}

// Validate reports the first problem with c, wrapping ErrConfig.
func (c Config) Validate() error {
	if c.Path == "" {
		return fmt.Errorf("%w: no serial path", ErrConfig)
	}
	if !c.Protocol.valid() {
		return fmt.Errorf("%w: unknown protocol %d", ErrConfig, int(c.Protocol))
	}
	if len(c.Boards) == 0 {
		return fmt.Errorf("%w: %s: no boards", ErrConfig, c.Path)
	}
	c = c.withDefaults()
	if c.PollInterval < 10*time.Millisecond || c.PollInterval > 10*time.Second {
		return fmt.Errorf("%w: poll interval %v outside 10ms-10s", ErrConfig, c.PollInterval)
	}
	if c.ReplyTimeout < time.Millisecond || c.ReplyTimeout > 5*time.Second {
		return fmt.Errorf("%w: reply timeout %v outside 1ms-5s", ErrConfig, c.ReplyTimeout)
	}
	if c.Retries > 10 || c.InterFrameDelay < 0 || c.DeadCycles < 1 || c.MinBackoff > c.MaxBackoff {
		return fmt.Errorf("%w: retries %d, inter-frame delay %v, dead cycles %d, backoff %v-%v",
			ErrConfig, c.Retries, c.InterFrameDelay, c.DeadCycles, c.MinBackoff, c.MaxBackoff)
	}
	seen := make(map[int]bool)
	for _, b := range c.Boards {
		if err := c.Protocol.checkAddr(b.Addr, 0, true); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if seen[b.Addr] {
			return fmt.Errorf("%w: board %d configured twice", ErrConfig, b.Addr)
		}
		seen[b.Addr] = true
		if b.Locks < 1 || b.Locks > c.Protocol.MaxLocks() {
			return fmt.Errorf("%w: board %d has %d locks (want 1-%d)", ErrConfig, b.Addr, b.Locks, c.Protocol.MaxLocks())
		}
		if b.DoorSensors && c.Protocol != ProtocolCU16 {
			return fmt.Errorf("%w: board %d: %s boards have no sensor inputs", ErrConfig, b.Addr, c.Protocol)
		}
		if b.Polarity != SetMeansClosed && b.Polarity != SetMeansOpen ||
			b.SensorPolarity != SetMeansClosed && b.SensorPolarity != SetMeansOpen {
			return fmt.Errorf("%w: board %d: unknown polarity", ErrConfig, b.Addr)
		}
	}
	return nil
}
