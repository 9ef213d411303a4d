package config

import (
	"fmt"

	"github.com/lockerd/lockerd/drivers/driver"
	"github.com/lockerd/lockerd/drivers/gpiodoor"
	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/scanner"
	"github.com/lockerd/lockerd/firmware/panel"
)

// Hardware lists the drivers. Every driver has a name, unique across all kinds: the
// compartments name their door driver, and the log, Health and `lockerd hwtest` report
// each driver by it. A driver with disabled: true is not opened (reported as skipped).
//
// Each list holds one driver package's settings, which that package checks and opens
// (driver.Settings): this struct and Drivers are the one place that names the drivers
// (docs/adr/0042-driver-registry.md).
type Hardware struct {
	LockBoards []LockBoard `yaml:"lockboards,omitempty"`
	GPIODoors  []GPIODoors `yaml:"gpio_doors,omitempty"`
	Scanners   []Scanner   `yaml:"scanners,omitempty"`
	Keypads    []Keypad    `yaml:"keypads,omitempty"`
	Panel      Panel       `yaml:"panel,omitempty"`
}

// Driver is one configured driver and where the file declares it.
type Driver struct {
	Path     string // hardware.scanners[0]
	Settings driver.Settings
}

// Drivers lists every driver in config order: lock boards, gpio doors, scanners,
// keypads, each in file order. Health reports them in this order.
func (h *Hardware) Drivers() []Driver {
	var out []Driver
	out = appendDrivers(out, "lockboards", h.LockBoards)
	out = appendDrivers(out, "gpio_doors", h.GPIODoors)
	out = appendDrivers(out, "scanners", h.Scanners)
	out = appendDrivers(out, "keypads", h.Keypads)
	return out
}

func appendDrivers[S driver.Settings](out []Driver, key string, list []S) []Driver {
	for i, s := range list {
		out = append(out, Driver{Path: fmt.Sprintf("hardware.%s[%d]", key, i), Settings: s})
	}
	return out
}

// The settings types, owned by their driver packages.
type (
	LockBoard = lockboard.Settings      // an RS-485 bus with lock-control boards on it
	Board     = lockboard.BoardSettings // a lock-control board on a bus
	GPIODoors = gpiodoor.Settings       // a set of doors on the Pi's GPIO header
	GPIODoor  = gpiodoor.DoorSettings   // one door of a set
	Scanner   = scanner.Settings        // a barcode/QR scanner on a serial port
	Keypad    = keypad.Settings         // a PIN pad on GPIO
	Panel     = panel.Settings          // the front panel
)

// Line levels for RelayActive and SensorOpen.
const (
	LevelLow  = gpiodoor.LevelLow
	LevelHigh = gpiodoor.LevelHigh
)

// MaxPulse is the longest relay pulse a config may ask for: the gpiodoor driver's
// hard ceiling, which clamps whatever it is given.
const MaxPulse = gpiodoor.MaxPulse

// Keypad kinds.
const (
	KeypadMatrix  = keypad.KindMatrix
	KeypadWiegand = keypad.KindWiegand
)

// Door says which driver and address opens a compartment and senses its door. On a
// lock-board bus the address is a board and a lock; on a gpio_doors driver it is the
// door's position in its doors list (lock: 1 is the first) and board stays 0.
type Door struct {
	Driver string `yaml:"driver"` // name of a hardware entry
	Board  int    `yaml:"board"`  // lock boards: board address
	Lock   int    `yaml:"lock"`   // lock boards: lock number; gpio doors: position; 1-based
}
