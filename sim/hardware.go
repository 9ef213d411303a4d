package sim

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lockerd/lockerd/drivers/gpiodoor/gpiodoortest"
	"github.com/lockerd/lockerd/drivers/keypad/keypadtest"
	"github.com/lockerd/lockerd/drivers/scanner/scannertest"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/panel"
)

// HardwareOptions add GPIO doors and a front panel to a virtual station, beside its
// CU16 boards. Fake GPIO pins live in this process: a station with GPIO doors or a
// keypad works only with lockerd running in-process (Station.Run), while the scanner is
// a pty that a lockerd process could open too.
type HardwareOptions struct {
	GPIODoors int // relay doors with reed switches on fake GPIO pins
	// GPIOPerson is what people do after a GPIO door's relay pulses; default: open it
	// 400 ms later and shut it 900 ms after that.
	GPIOPerson gpiodoortest.Policy
	Scanner    bool // a virtual barcode scanner on a pty (CR suffix)
	Keypad     bool // a 4x4 matrix keypad on fake GPIO pins
}

// Names of the virtual drivers in the station's config.
const (
	GPIODriver    = "gpio"
	ScannerDriver = "front"
	KeypadDriver  = "pad"
	simPulse      = 200 * time.Millisecond // short, so that tests pulse all doors quickly
)

// virtualHardware is the fake GPIO and the virtual scanner of one station.
type virtualHardware struct {
	gpioPerson gpiodoortest.Policy // what the cabinet's people do, for the browser's "automatic" person
	cabinet    *gpiodoortest.Cabinet
	scanner    *scannertest.Scanner
	keypad     *keypadtest.Matrix
}

func gpioPins(i int) (relay, sensor string) {
	return fmt.Sprintf("GPIO%d", 100+i), fmt.Sprintf("GPIO%d", 200+i)
}

// newVirtualHardware creates the devices o asks for and declares them in cfg, with one
// compartment per GPIO door numbered from firstID; sizes continue the station's spread
// over total compartments.
func newVirtualHardware(o StationOptions, cfg *config.Config, firstID, total int) (*virtualHardware, error) {
	h := o.Hardware
	v := &virtualHardware{}
	if h.GPIODoors > 0 {
		person := h.GPIOPerson
		if person == nil {
			person = gpiodoortest.OpenThenClose(400*time.Millisecond, 900*time.Millisecond)
		}
		var specs []gpiodoortest.DoorSpec
		set := config.GPIODoors{Name: GPIODriver, Pulse: simPulse}
		for i := range h.GPIODoors {
			relay, sensor := gpioPins(i)
			name := fmt.Sprintf("g%d", i+1)
			specs = append(specs, gpiodoortest.DoorSpec{Name: name, Relay: relay, Sensor: sensor})
			set.Doors = append(set.Doors, config.GPIODoor{Name: name, Relay: relay, Sensor: sensor})
			id := firstID + i
			cfg.Compartments = append(cfg.Compartments, config.Compartment{ID: id, Label: fmt.Sprintf("G%02d", i+1),
				Size: sizeFor(id-1, total), Door: config.Door{Driver: GPIODriver, Lock: i + 1}})
		}
		cab, err := gpiodoortest.NewCabinet(specs, person)
		if err != nil {
			return nil, err
		}
		v.cabinet, v.gpioPerson = cab, person
		cfg.Hardware.GPIODoors = append(cfg.Hardware.GPIODoors, set)
	}
	if h.Keypad {
		v.keypad = keypadtest.NewMatrix(nil)
		cfg.Hardware.Keypads = append(cfg.Hardware.Keypads, config.Keypad{Name: KeypadDriver, Kind: config.KeypadMatrix,
			Rows: v.keypad.Rows, Cols: v.keypad.Cols})
	}
	if h.Scanner {
		sc, err := scannertest.New(scannertest.Config{Link: filepath.Join(o.Dir, "ttyScanner"),
			Suffix: scannertest.SuffixCR, Logger: o.Logger.With("unit", "virtual-scanner")})
		if err != nil {
			return nil, errors.Join(err, v.Close())
		}
		v.scanner = sc
		cfg.Hardware.Scanners = append(cfg.Hardware.Scanners, config.Scanner{Name: ScannerDriver, Port: sc.Path()})
	}
	return v, nil
}

// pins resolves the fake GPIO lines of the cabinet and the keypad; nil when there are
// none, so that lockerd would use periph's registry.
func (v *virtualHardware) pins() func(string) gpio.PinIO {
	if v == nil || v.cabinet == nil && v.keypad == nil {
		return nil
	}
	return func(name string) gpio.PinIO {
		if v.cabinet != nil {
			if p := v.cabinet.ByName(name); p != nil {
				return p
			}
		}
		if v.keypad != nil {
			return v.keypad.ByName(name)
		}
		return nil
	}
}

// Close stops the cabinet's people and unplugs the scanner.
func (v *virtualHardware) Close() error {
	if v == nil {
		return nil
	}
	var errs []error
	if v.cabinet != nil {
		errs = append(errs, v.cabinet.Close())
	}
	if v.scanner != nil {
		errs = append(errs, v.scanner.Close())
	}
	return errors.Join(errs...)
}

// Screens is the simulator's front-panel display: it keeps the panel's screens for a
// scenario to wait on and, with Print set, shows each one. Show never blocks.
type Screens struct {
	ch    chan panel.Screen
	Print func(panel.Screen)

	mu        sync.Mutex
	listeners []func(panel.Screen)
}

var _ panel.Display = (*Screens)(nil)

// NewScreens returns a display with room for n screens not yet waited for.
func NewScreens(n int) *Screens { return &Screens{ch: make(chan panel.Screen, n)} }

// Listen adds f to the functions told of every screen shown, after Print (the
// browser front panel is one). f runs on the panel's goroutine and must not block.
func (s *Screens) Listen(f func(panel.Screen)) {
	s.mu.Lock()
	s.listeners = append(s.listeners, f)
	s.mu.Unlock()
}

// Show implements panel.Display; a full buffer drops the oldest screen.
func (s *Screens) Show(sc panel.Screen) {
	if s.Print != nil {
		s.Print(sc)
	}
	s.mu.Lock()
	listeners := s.listeners
	s.mu.Unlock()
	for _, f := range listeners {
		f(sc)
	}
	for {
		select {
		case s.ch <- sc:
			return
		default:
		}
		select {
		case <-s.ch:
		default:
		}
	}
}

// Wait consumes screens in the order they were shown and returns the first that
// matches, or an error after timeout.
func (s *Screens) Wait(ctx context.Context, timeout time.Duration, match func(panel.Screen) bool) (panel.Screen, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case sc := <-s.ch:
			if match(sc) {
				return sc, nil
			}
		case <-t.C:
			return panel.Screen{}, errors.New("sim: timed out waiting for the panel")
		case <-ctx.Done():
			return panel.Screen{}, ctx.Err()
		}
	}
}

// Prompts matches screens showing any of prompts.
func Prompts(prompts ...panel.Prompt) func(panel.Screen) bool {
	return func(sc panel.Screen) bool {
		for _, p := range prompts {
			if sc.Prompt == p {
				return true
			}
		}
		return false
	}
}
