package config

import (
	"strconv"
	"time"
)

// Hardware lists the drivers. Every driver has a name, unique across all kinds: the
// compartments name their door driver, and the log, Health and `lockerd hwtest` report
// each driver by it. A driver with disabled: true is not opened (reported as skipped).
type Hardware struct {
	LockBoards []LockBoard `yaml:"lockboards,omitempty"`
	GPIODoors  []GPIODoors `yaml:"gpio_doors,omitempty"`
	Scanners   []Scanner   `yaml:"scanners,omitempty"`
	Keypads    []Keypad    `yaml:"keypads,omitempty"`
	Panel      Panel       `yaml:"panel,omitempty"`
}

// Door says which driver and address opens a compartment and senses its door. On a
// lock-board bus the address is a board and a lock; on a gpio_doors driver it is the
// door's position in its doors list (lock: 1 is the first) and board stays 0.
type Door struct {
	Driver string `yaml:"driver"` // name of a hardware entry
	Board  int    `yaml:"board"`  // lock boards: board address
	Lock   int    `yaml:"lock"`   // lock boards: lock number; gpio doors: position; 1-based
}

// LockBoard is one RS-485 bus with lock-control boards on it.
type LockBoard struct {
	Name         string        `yaml:"name"`
	Disabled     bool          `yaml:"disabled,omitempty"`
	Port         string        `yaml:"port"`     // prefer /dev/serial/by-id/...
	Protocol     string        `yaml:"protocol"` // cu16 or 8a
	Baud         int           `yaml:"baud"`
	Poll         time.Duration `yaml:"poll"`
	ReplyTimeout time.Duration `yaml:"reply_timeout"`
	Retries      int           `yaml:"retries"`
	Boards       []Board       `yaml:"boards"`
}

// Board is one lock-control board on a bus.
type Board struct {
	Addr           int    `yaml:"addr"`
	Locks          int    `yaml:"locks"`
	Polarity       string `yaml:"polarity"` // set-closed (default) or set-open
	DoorSensors    bool   `yaml:"door_sensors"`
	SensorPolarity string `yaml:"sensor_polarity"`
}

// Line levels for RelayActive and SensorOpen.
const (
	LevelLow  = "low"
	LevelHigh = "high"
)

// MaxPulse is the longest relay pulse a config may ask for. It matches the gpiodoor
// driver's hard ceiling (gpiodoor.MaxPulse), which clamps whatever it is given; the
// config refuses more so that a typo is caught on the bench, not in the field.
const MaxPulse = 2 * time.Second

// GPIODoors is a set of doors wired to the Pi's GPIO header: per door a relay line that
// pulses a solenoid lock and a reed-switch line that senses the door. Settings here are
// the defaults of every door; a door may override the line levels and the pulse.
type GPIODoors struct {
	Name     string        `yaml:"name"`
	Disabled bool          `yaml:"disabled,omitempty"`
	Pulse    time.Duration `yaml:"pulse,omitempty"`    // default 500ms, at most 2s
	Debounce time.Duration `yaml:"debounce,omitempty"` // default 20ms, at most 1s
	// RelayActive is the level that energises a relay: low (default; most Pi relay
	// boards) or high.
	RelayActive string `yaml:"relay_active,omitempty"`
	// SensorOpen is the level a sensor reads while its door is open: high (default; a
	// reed switch to GND with a pull-up reads low while the door is shut) or low.
	SensorOpen string     `yaml:"sensor_open,omitempty"`
	SensorPull string     `yaml:"sensor_pull,omitempty"` // up (default), down or none
	Doors      []GPIODoor `yaml:"doors"`
}

// GPIODoor is one door of a GPIODoors driver. Pin names are those periph's gpioreg
// knows, BCM numbering: GPIO17, not the header pin number.
type GPIODoor struct {
	Name        string        `yaml:"name,omitempty"` // default: its position, "1", "2", ...
	Disabled    bool          `yaml:"disabled,omitempty"`
	Relay       string        `yaml:"relay"`
	Sensor      string        `yaml:"sensor"`
	RelayActive string        `yaml:"relay_active,omitempty"` // overrides the driver's
	SensorOpen  string        `yaml:"sensor_open,omitempty"`  // overrides the driver's
	Pulse       time.Duration `yaml:"pulse,omitempty"`        // overrides the driver's
}

// DoorName is the name the driver gives the door at index i of the list.
func (g GPIODoors) DoorName(i int) string {
	if n := g.Doors[i].Name; n != "" {
		return n
	}
	return strconv.Itoa(i + 1)
}

// Scanner is a barcode/QR scanner on a serial port (USB CDC-ACM or RS-232). Its scans
// go to the front panel. Zero durations take the driver's defaults.
type Scanner struct {
	Name        string        `yaml:"name"`
	Disabled    bool          `yaml:"disabled,omitempty"`
	Port        string        `yaml:"port"`                   // prefer /dev/serial/by-id/...
	Baud        int           `yaml:"baud,omitempty"`         // RS-232 scanners; default 9600
	Silence     time.Duration `yaml:"silence,omitempty"`      // ends a scan without a suffix; default 80ms
	DedupWindow time.Duration `yaml:"dedup_window,omitempty"` // drops a repeat; default 1.5s
	MaxLen      int           `yaml:"max_len,omitempty"`      // longest scan in bytes; default 512
}

// Keypad kinds.
const (
	KeypadMatrix  = "matrix"
	KeypadWiegand = "wiegand"
)

// Keypad is a PIN pad on GPIO: a matrix keypad (rows and columns) or a Wiegand keypad
// in 4- or 8-bit burst mode (d0 and d1). Its keys go to the front panel.
type Keypad struct {
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

// Panel is the front panel: how keypad keys and scans become station calls (see
// docs/adr/0013-front-panel-conventions.md). Zero fields take the defaults.
type Panel struct {
	// DefaultSize is the size of an unannounced parcel when the courier chose none with
	// keys 1-4: S, M, L or XL. Empty: the panel asks for a size.
	DefaultSize string `yaml:"default_size,omitempty"`
	// Idle ends a courier's session on the panel after no key or scan for this long;
	// default 60s, at most the station's session_idle.
	Idle time.Duration `yaml:"idle,omitempty"`
	// EntryTimeout drops a partly typed code or PIN; default 10s.
	EntryTimeout time.Duration `yaml:"entry_timeout,omitempty"`
}
