package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/lockerd/lockerd/drivers/gpiodoor/gpiodoortest"
	"github.com/lockerd/lockerd/drivers/keypad/keypadtest"
	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/drivers/scanner/scannertest"
	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker"
)

// StationOptions shape a virtual station.
type StationOptions struct {
	LockerID string
	Dir      string // working directory: config, state and the boards' pty link go here
	Boards   int    // CU16 boards on one RS-485 bus; default 2
	Locks    int    // locks per board; default 12 (24 compartments)
	Person   lockboardtest.Policy
	// History bounds the virtual boards' event history (default 10000 events).
	History int
	Policy  config.Policy
	Cloud   *Cloud
	Logger  *slog.Logger
	// LogLevel is lockerd's log level (default info).
	LogLevel string
	// Shelves, when positive, makes a staffed pickup point of that many shelf slots
	// (capacity 20 each) and no doors.
	Shelves int
	// Hardware adds GPIO doors, a scanner and a keypad beside the boards.
	Hardware HardwareOptions
	// MQTT connects the station's lockerd to a broker (see Cloud.Connect).
	MQTT config.MQTT
	// KioskListen is the loopback address of the locker's own screen (lockerd's
	// kiosk.listen): "127.0.0.1:0" picks a free port, "" turns the kiosk off (so that
	// test stations never compete for the kiosk's default port).
	KioskListen string
}

// Station is a virtual locker: virtual CU16 boards on a pty and a lockerd config that
// drives them through the real lockboard driver.
type Station struct {
	ID         string
	Dir        string
	ConfigPath string
	Config     *config.Config
	Boards     *lockboardtest.Set // nil for a staffed point with shelves only
	// Virtual GPIO doors and front panel, nil unless asked for in StationOptions.Hardware.
	Cabinet *gpiodoortest.Cabinet
	Scanner *scannertest.Scanner
	Keypad  *keypadtest.Matrix
	// Screens shows what the front panel displays when the station has a scanner or a
	// keypad and runs in-process.
	Screens *Screens
	// OnKiosk, when set, is told the URL of the locker's own screen once lockerd
	// serves it (StationOptions.KioskListen).
	OnKiosk func(url string)
	hw      *virtualHardware
	person  lockboardtest.Policy // StationOptions.Person, for the browser's "automatic" person
}

// sizeFor spreads sizes over a locker like a real cabinet: many small doors, few large.
func sizeFor(i, n int) string {
	switch f := float64(i) / float64(n); {
	case f < 0.34:
		return "S"
	case f < 0.67:
		return "M"
	case f < 0.88:
		return "L"
	}
	return "XL"
}

// NewStation creates the virtual boards and writes the station's config file.
func NewStation(o StationOptions) (*Station, error) {
	if o.Boards == 0 {
		o.Boards = 2
	}
	if o.Locks == 0 {
		o.Locks = 12
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if o.Shelves > 0 {
		return newShelfStation(o)
	}
	var specs []lockboardtest.BoardSpec
	var boards []config.Board
	for b := 0; b < o.Boards; b++ {
		specs = append(specs, lockboardtest.BoardSpec{Addr: b, Locks: o.Locks})
		boards = append(boards, config.Board{Addr: b, Locks: o.Locks})
	}
	set, err := lockboardtest.New(lockboardtest.Config{Protocol: lockboard.ProtocolCU16, Boards: specs,
		Link: filepath.Join(o.Dir, "ttyRS485"), Person: o.Person, HistoryLimit: o.History, Logger: o.Logger.With("unit", "virtual-board")})
	if err != nil {
		return nil, err
	}
	cfg := baseConfig(o)
	cfg.Hardware = config.Hardware{LockBoards: []config.LockBoard{{Name: "bus0", Port: set.Path(), Protocol: "cu16",
		Boards: boards}}}
	n := o.Boards*o.Locks + o.Hardware.GPIODoors
	for i := 0; i < o.Boards*o.Locks; i++ {
		board, lock := i/o.Locks, i%o.Locks+1
		cfg.Compartments = append(cfg.Compartments, config.Compartment{ID: i + 1,
			Label: fmt.Sprintf("%c%02d", 'A'+board, lock), Size: sizeFor(i, n),
			Door: config.Door{Driver: "bus0", Board: board, Lock: lock}})
	}
	hw, err := newVirtualHardware(o, cfg, o.Boards*o.Locks+1, n)
	if err != nil {
		set.Close()
		return nil, err
	}
	st, err := writeStation(o, cfg)
	if err != nil {
		set.Close()
		hw.Close()
		return nil, err
	}
	st.Boards, st.hw, st.Cabinet, st.Scanner, st.Keypad = set, hw, hw.cabinet, hw.scanner, hw.keypad
	st.person = o.Person
	if hw.scanner != nil || hw.keypad != nil {
		st.Screens = NewScreens(256)
	}
	return st, nil
}

// newShelfStation is a staffed pickup point: shelves, no locks, no hardware.
func newShelfStation(o StationOptions) (*Station, error) {
	cfg := baseConfig(o)
	for i := 0; i < o.Shelves; i++ {
		cfg.Compartments = append(cfg.Compartments, config.Compartment{ID: i + 1,
			Label: fmt.Sprintf("shelf %c", 'K'+i), Size: "XL", Kind: "shelf", Capacity: 20})
	}
	return writeStation(o, cfg)
}

func baseConfig(o StationOptions) *config.Config {
	return &config.Config{
		LockerID: o.LockerID,
		StateDir: filepath.Join(o.Dir, "state"),
		Log:      config.Log{Level: o.LogLevel, Format: "text"},
		Fleet:    config.Fleet{X25519Public: o.Cloud.FleetPublicHex(), Ed25519Public: o.Cloud.SigningPublicHex()},
		MQTT:     o.MQTT,
		Policy:   o.Policy,
		// Provisioning goes over the cloud link when there is one; the control socket's
		// admin endpoints are for stations without.
		Control: config.Control{Socket: filepath.Join(o.Dir, "control.sock"), Admin: !o.MQTT.Enabled()},
		Kiosk:   config.Kiosk{Listen: &o.KioskListen}, // "" (the default) is off: no test station takes port 8080
	}
}

// writeStation writes cfg as the station's config file and reads it back through the
// real loader: the file is what a lockerd subprocess runs.
func writeStation(o StationOptions, cfg *config.Config) (*Station, error) {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(o.Dir, "lockerd.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if cfg, err = config.Load(path); err != nil {
		return nil, err
	}
	return &Station{ID: o.LockerID, Dir: o.Dir, ConfigPath: path, Config: cfg}, nil
}

// Client returns a control-API client for the station.
func (s *Station) Client() *control.Client { return control.NewClient(firmware.SocketPath(s.Config)) }

// Run runs lockerd for this station in-process until ctx ends.
func (s *Station) Run(ctx context.Context, log *slog.Logger, observer func(locker.Event), ready func()) error {
	opt := s.Options()
	opt.Observer, opt.Ready = observer, ready
	return firmware.Run(ctx, s.Config, log, opt)
}

// Options are the firmware options that connect an in-process lockerd to the
// station's fake GPIO pins and its panel display.
func (s *Station) Options() firmware.Options {
	var opt firmware.Options
	opt.Hardware.Pins = s.hw.pins()
	if s.Screens != nil {
		opt.Hardware.Display = s.Screens
	}
	opt.Kiosk = s.OnKiosk
	return opt
}

// Close unplugs the virtual boards and the virtual hardware.
func (s *Station) Close() error {
	err := s.hw.Close()
	if s.Boards == nil {
		return err
	}
	return errors.Join(s.Boards.Close(), err)
}
