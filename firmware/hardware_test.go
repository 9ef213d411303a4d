package firmware_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"

	"github.com/lockerd/lockerd/drivers/gpiodoor/gpiodoortest"
	"github.com/lockerd/lockerd/drivers/gpiotest"
	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/locker"
)

// gpioConfig is a station with two GPIO doors, a scanner and a Wiegand keypad; the
// scanner's port does not exist.
func gpioConfig(t *testing.T) *config.Config {
	return &config.Config{
		LockerID: "HW-1", StateDir: t.TempDir(),
		Hardware: config.Hardware{
			GPIODoors: []config.GPIODoors{{Name: "gpio", Pulse: 50e6, Doors: []config.GPIODoor{
				{Name: "d1", Relay: "R1", Sensor: "S1"}, {Name: "d2", Relay: "R2", Sensor: "S2"}}}},
			Scanners: []config.Scanner{{Name: "front", Port: t.TempDir() + "/no-such-tty"}},
			Keypads:  []config.Keypad{{Name: "pad", Kind: config.KeypadWiegand, D0: "D0", D1: "D1"}},
		},
		Compartments: []config.Compartment{
			{ID: 1, Label: "G1", Size: "M", Door: config.Door{Driver: "gpio", Lock: 1}},
			{ID: 2, Label: "G2", Size: "M", Door: config.Door{Driver: "gpio", Lock: 2}},
		},
	}
}

// pins returns fake pins for every line in names.
func pins(names ...string) func(string) gpio.PinIO {
	r := gpiotest.Registry{}
	for i, n := range names {
		r[n] = gpiotest.NewPin(n, i, gpio.Low)
	}
	return r.ByName
}

func TestHardwareReportsEachDriver(t *testing.T) {
	tests := []struct {
		name   string
		change func(*config.Config)
		pins   []string
		want   map[string]string // driver -> "load ok|fault|reason substring"
		doors  map[locker.CompartmentID]bool
	}{
		{name: "all pins present", pins: []string{"R1", "S1", "R2", "S2", "D0", "D1"},
			want:  map[string]string{"gpio": "loaded ok", "pad": "loaded ok", "front": "loaded fault: "},
			doors: map[locker.CompartmentID]bool{1: true, 2: true}},
		{name: "one sensor line missing", pins: []string{"R1", "S1", "R2", "D0", "D1"},
			want:  map[string]string{"gpio": "loaded fault: door d2 failed: sensor pin S2 not found", "pad": "loaded ok"},
			doors: map[locker.CompartmentID]bool{1: true, 2: false}},
		{name: "keypad lines missing", pins: []string{"R1", "S1", "R2", "S2"},
			want:  map[string]string{"gpio": "loaded ok", "pad": "failed keypad: wiegand D0 pin D0 not found"},
			doors: map[locker.CompartmentID]bool{1: true, 2: true}},
		{name: "drivers disabled", pins: []string{"R1", "S1", "R2", "S2", "D0", "D1"},
			change: func(c *config.Config) {
				c.Hardware.GPIODoors[0].Disabled, c.Hardware.Scanners[0].Disabled, c.Hardware.Keypads[0].Disabled = true, true, true
			},
			want: map[string]string{"gpio": "skipped disabled in config", "front": "skipped disabled in config",
				"pad": "skipped disabled in config"},
			doors: map[locker.CompartmentID]bool{1: false, 2: false}},
		{name: "one door disabled", pins: []string{"R1", "S1", "R2", "S2", "D0", "D1"},
			change: func(c *config.Config) { c.Hardware.GPIODoors[0].Doors[1].Disabled = true },
			want:   map[string]string{"gpio": "loaded ok"},
			doors:  map[locker.CompartmentID]bool{1: true, 2: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := gpioConfig(t)
			if tt.change != nil {
				tt.change(cfg)
			}
			hw, err := firmware.OpenHardware(cfg, slog.New(slog.DiscardHandler), firmware.HardwareOptions{Pins: pins(tt.pins...)})
			if err != nil {
				t.Fatal(err)
			}
			defer hw.Close()
			got := map[string]string{}
			for _, h := range hw.Health() {
				s := h.Load.String() + " "
				switch {
				case h.Load != firmware.Loaded:
					s += h.Reason
				case h.OK:
					s += "ok"
				default:
					s += "fault: " + h.Reason
				}
				got[h.Name] = s
			}
			for name, want := range tt.want {
				if !strings.HasPrefix(got[name], want) {
					t.Errorf("%s: %q, want %q", name, got[name], want)
				}
			}
			for id, works := range tt.doors {
				_, known := hw.DoorOpen(id)
				err := hw.Unlock(context.Background(), id)
				if known != works || (err == nil) != works {
					t.Errorf("compartment %d: known %v, unlock %v; want working %v", id, known, err, works)
				}
			}
		})
	}
}

func TestHardwareWithoutGPIOChip(t *testing.T) {
	cfg := gpioConfig(t)
	cfg.Hardware.GPIODoors[0].Doors = []config.GPIODoor{{Name: "d1", Relay: "GPIO5", Sensor: "GPIO17"}}
	cfg.Compartments = cfg.Compartments[:1]
	cfg.Hardware.Keypads = nil
	hw, err := firmware.OpenHardware(cfg, slog.New(slog.DiscardHandler), firmware.HardwareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer hw.Close()
	if gpioreg.ByName("GPIO5") != nil {
		t.Skip("this machine has GPIO5: the no-chip path needs a machine without GPIO")
	}
	var kinds []string
	for _, h := range hw.Health() {
		kinds = append(kinds, h.Kind)
		if h.Name == "gpio" && (h.OK || !strings.Contains(h.Reason, "relay pin GPIO5 not found")) {
			t.Errorf("gpio: %+v, want the missing pin reported", h)
		}
	}
	if kinds[0] != firmware.KindGPIOHost {
		t.Errorf("health %v: want periph's host drivers first", kinds)
	}
	if err := hw.Unlock(context.Background(), 1); err == nil {
		t.Error("unlock without a pin succeeded")
	}
	if err := hw.Unlock(context.Background(), 9); !errors.Is(err, firmware.ErrNoDoor) {
		t.Errorf("unlock of an unknown compartment: %v, want ErrNoDoor", err)
	}
}

func TestHardwareHaltAndCloseLeaveRelaysOff(t *testing.T) {
	cab, err := gpiodoortest.NewCabinet([]gpiodoortest.DoorSpec{{Name: "d1", Relay: "R1", Sensor: "S1"},
		{Name: "d2", Relay: "R2", Sensor: "S2"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cab.Close()
	cfg := gpioConfig(t)
	cfg.Hardware.Scanners, cfg.Hardware.Keypads = nil, nil
	cfg.Hardware.GPIODoors[0].Pulse = config.MaxPulse
	hw, err := firmware.OpenHardware(cfg, slog.New(slog.DiscardHandler), firmware.HardwareOptions{Pins: cab.ByName})
	if err != nil {
		t.Fatal(err)
	}
	pulsed := make(chan error, 1)
	go func() { pulsed <- hw.Unlock(context.Background(), 1) }()
	waitFor(t, func() bool { return cab.Pin("R1").Level() == gpio.Low }) // energised (active-low)
	if err := hw.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := <-pulsed; err == nil {
		t.Error("a pulse cut short by Halt reported success")
	}
	if err := hw.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"R1", "R2"} {
		if outs := cab.Pin(r).Outs(); outs[len(outs)-1].Level != gpio.High {
			t.Errorf("relay %s left at %v", r, outs[len(outs)-1].Level)
		}
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline: fake pins have no change feed
	}
}
