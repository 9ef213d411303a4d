package gpiodoor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/gpiodoor"
	"github.com/lockerd/lockerd/drivers/gpiotest"
	"periph.io/x/conn/v3/gpio"
)

const waitLimit = 5 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type bench struct {
	pins    gpiotest.Registry
	drv     *gpiodoor.Driver
	changes chan gpiodoor.Change
	faults  chan gpiodoor.Fault
}

// newPins creates fake pins for doors: relays at the safe-looking Low,
// sensors Low (a closed door). Names starting with "missing" get no pin.
func newPins(doors []gpiodoor.DoorConfig) gpiotest.Registry {
	pins := gpiotest.Registry{}
	for i, d := range doors {
		if d.Relay != "" && !strings.HasPrefix(d.Relay, "missing") {
			pins[d.Relay] = gpiotest.NewPin(d.Relay, i, gpio.Low)
		}
		if d.Sensor != "" && !strings.HasPrefix(d.Sensor, "missing") {
			pins[d.Sensor] = gpiotest.NewPin(d.Sensor, 100+i, gpio.Low)
		}
	}
	return pins
}

func newBench(t testing.TB, doors []gpiodoor.DoorConfig) *bench {
	t.Helper()
	return openBench(t, doors, newPins(doors))
}

func openBench(t testing.TB, doors []gpiodoor.DoorConfig, pins gpiotest.Registry) *bench {
	t.Helper()
	b := &bench{pins: pins, changes: make(chan gpiodoor.Change, 1024), faults: make(chan gpiodoor.Fault, 64)}
	drv, err := gpiodoor.Open(gpiodoor.Config{
		Doors:    doors,
		ByName:   b.pins.ByName,
		OnChange: func(c gpiodoor.Change) { b.changes <- c },
		OnFault:  func(f gpiodoor.Fault) { b.faults <- f },
		Logger:   quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drv.Close() })
	b.drv = drv
	return b
}

func (b *bench) change(t testing.TB, what string) gpiodoor.Change {
	t.Helper()
	select {
	case c := <-b.changes:
		return c
	case <-time.After(waitLimit):
		t.Fatalf("no change: %s", what)
		return gpiodoor.Change{}
	}
}

func (b *bench) noChange(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case c := <-b.changes:
		t.Fatalf("unexpected change %+v", c)
	case <-time.After(d):
	}
}

func door(name string, relay, sensor string) gpiodoor.DoorConfig {
	return gpiodoor.DoorConfig{Name: name, Relay: relay, Sensor: sensor, Pulse: 30 * time.Millisecond, Debounce: 10 * time.Millisecond}
}

func TestRelaysSafeFirstAndLast(t *testing.T) {
	tests := []struct {
		name       string
		activeHigh bool
		safe       gpio.Level
	}{
		{"active-low relay board", false, gpio.High},
		{"active-high relay", true, gpio.Low},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := door("d1", "R1", "")
			d.RelayActiveHigh = tt.activeHigh
			b := newBench(t, []gpiodoor.DoorConfig{d})
			r := b.pins["R1"]
			if outs := r.Outs(); len(outs) != 1 || outs[0].Level != tt.safe {
				t.Fatalf("outputs at open %v, want one write of the safe level %v", outs, tt.safe)
			}
			if err := b.drv.Pulse(context.Background(), "d1"); err != nil {
				t.Fatal(err)
			}
			if err := b.drv.Close(); err != nil {
				t.Fatal(err)
			}
			outs := r.Outs()
			if len(outs) != 4 || outs[1].Level == tt.safe || outs[2].Level != tt.safe || outs[3].Level != tt.safe {
				t.Errorf("outputs %v: want safe, active, safe, then safe again on Close", outs)
			}
			if n := r.ReadsAsOutput(); n != 0 {
				t.Errorf("driver read the relay output %d times", n)
			}
		})
	}
}

func onTime(t *testing.T, outs []gpiotest.OutEvent, safe gpio.Level) time.Duration {
	t.Helper()
	var on time.Time
	for _, o := range outs {
		if o.Level != safe && on.IsZero() {
			on = o.At
		}
		if o.Level == safe && !on.IsZero() {
			return o.At.Sub(on)
		}
	}
	t.Fatalf("no complete pulse in %v", outs)
	return 0
}

func TestPulseLengthAndCeiling(t *testing.T) {
	tests := []struct {
		name       string
		configured time.Duration
		want       time.Duration
	}{
		{"configured pulse", 40 * time.Millisecond, 40 * time.Millisecond},
		{"ten seconds clamped to the ceiling", 10 * time.Second, gpiodoor.MaxPulse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := door("d1", "R1", "")
			d.Pulse = tt.configured
			b := newBench(t, []gpiodoor.DoorConfig{d})
			start := time.Now()
			if err := b.drv.Pulse(context.Background(), "d1"); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			got := onTime(t, b.pins["R1"].Outs(), gpio.High)
			if got < tt.want || got > tt.want+500*time.Millisecond || took < tt.want {
				t.Errorf("relay on for %v (Pulse took %v), want %v", got, took, tt.want)
			}
			if on, err := b.drv.Relay("d1"); err != nil || on {
				t.Errorf("Relay after pulse = %v, %v", on, err)
			}
		})
	}
}

func TestHaltAndBusy(t *testing.T) {
	d := door("d1", "R1", "")
	d.Pulse = gpiodoor.MaxPulse
	b := newBench(t, []gpiodoor.DoorConfig{d})
	on := make(chan struct{}, 1)
	b.pins["R1"].OnOut = func(l gpio.Level) {
		if l == gpio.Low {
			on <- struct{}{}
		}
	}
	res := make(chan error, 1)
	go func() { res <- b.drv.Pulse(context.Background(), "d1") }()
	select {
	case <-on:
	case <-time.After(waitLimit):
		t.Fatal("relay never energised")
	}
	if r, _ := b.drv.Relay("d1"); !r {
		t.Error("Relay reports off during a pulse")
	}
	if err := b.drv.Pulse(context.Background(), "d1"); !errors.Is(err, gpiodoor.ErrBusy) {
		t.Errorf("second Pulse = %v, want ErrBusy", err)
	}
	start := time.Now()
	if err := b.drv.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, gpiodoor.ErrHalted) || time.Since(start) > time.Second {
		t.Errorf("Pulse after Halt = %v after %v, want ErrHalted at once", err, time.Since(start))
	}
	if lvl := b.pins["R1"].Level(); lvl != gpio.High {
		t.Errorf("relay level %v after Halt, want safe High", lvl)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.drv.Pulse(ctx, "d1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Pulse with a cancelled context = %v", err)
	}
}

func TestStatuses(t *testing.T) {
	disabled := door("off", "R9", "")
	disabled.Disabled = true
	b := newBench(t, []gpiodoor.DoorConfig{
		door("ok", "R1", "S1"),
		door("norelay", "missing1", ""),
		door("nosensor", "R3", "missing2"),
		disabled,
		door("relayonly", "R5", ""),
	})
	want := []gpiodoor.Status{
		{Door: "ok", Load: gpiodoor.Loaded, HasSensor: true},
		{Door: "norelay", Load: gpiodoor.Failed, Reason: "relay pin missing1 not found"},
		{Door: "nosensor", Load: gpiodoor.Failed, Reason: "sensor pin missing2 not found"},
		{Door: "off", Load: gpiodoor.Skipped, Reason: "disabled in config"},
		{Door: "relayonly", Load: gpiodoor.Loaded},
	}
	got := b.drv.Statuses()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("status %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if lvl := b.pins["R3"].Level(); lvl != gpio.High {
		t.Errorf("failed door's relay left at %v, want safe High", lvl)
	}
	ctx := context.Background()
	errTests := []struct {
		name string
		err  error
		want error
	}{
		{"pulse failed door", b.drv.Pulse(ctx, "norelay"), gpiodoor.ErrUnavailable},
		{"pulse skipped door", b.drv.Pulse(ctx, "off"), gpiodoor.ErrUnavailable},
		{"pulse unknown door", b.drv.Pulse(ctx, "nope"), gpiodoor.ErrUnknownDoor},
		{"sense door without sensor", func() error { _, err := b.drv.DoorOpen("relayonly"); return err }(), gpiodoor.ErrNoSensor},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("got %v, want %v", tt.err, tt.want)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name  string
		doors []gpiodoor.DoorConfig
	}{
		{"unnamed", []gpiodoor.DoorConfig{{Relay: "R1"}}},
		{"duplicate name", []gpiodoor.DoorConfig{door("a", "R1", ""), door("a", "R2", "")}},
		{"no relay", []gpiodoor.DoorConfig{{Name: "a"}}},
		{"relay pin shared", []gpiodoor.DoorConfig{door("a", "R1", ""), door("b", "R1", "")}},
		{"sensor on a relay pin", []gpiodoor.DoorConfig{door("a", "R1", ""), door("b", "R2", "R1")}},
		{"unknown pull", []gpiodoor.DoorConfig{{Name: "a", Relay: "R1", Sensor: "S1", SensorPull: "sideways"}}},
		{"negative pulse", []gpiodoor.DoorConfig{{Name: "a", Relay: "R1", Pulse: -time.Second}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gpiodoor.Open(gpiodoor.Config{Doors: tt.doors, ByName: gpiotest.Registry{}.ByName, Logger: quiet})
			if !errors.Is(err, gpiodoor.ErrConfig) {
				t.Errorf("Open = %v, want ErrConfig", err)
			}
		})
	}
}

func TestInitHostWithoutGPIO(t *testing.T) {
	drivers, err := gpiodoor.InitHost(quiet)
	if err != nil {
		t.Fatalf("InitHost: %v", err)
	}
	for _, d := range drivers {
		if d.Name == "" || d.Load.String() == fmt.Sprintf("Load(%d)", int(d.Load)) {
			t.Errorf("bad host driver report %+v", d)
		}
	}
}
