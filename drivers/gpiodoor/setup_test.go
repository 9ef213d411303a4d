package gpiodoor_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lockerd/lockerd/drivers/driver"
	"github.com/lockerd/lockerd/drivers/driver/drivertest"
	"github.com/lockerd/lockerd/drivers/gpiodoor"
	"github.com/lockerd/lockerd/drivers/gpiotest"
)

func TestSettingsCheck(t *testing.T) {
	s := gpiodoor.Settings{Name: "gpio", Pulse: 5 * time.Second, RelayActive: "hi",
		Doors: []gpiodoor.DoorSettings{{Name: "2", Relay: "GPIO5", Sensor: "GPIO6"}, {Relay: "GPIO7", Pulse: 5 * time.Millisecond}}}
	var c drivertest.Check
	s.Check(&c, "p")
	for _, want := range []string{
		"p.pulse: must be at most 2s",
		`p.relay_active: must be low or high, not "hi" (default low)`,
		`p.doors[1].name: duplicate door name "2" in this set`,
		"p.doors[1].sensor: required: a locker door needs a door sensor",
		"p.doors[1].pulse: must be at least 20ms",
	} {
		if !c.Failed(want) {
			t.Errorf("no %q in %q", want, c.Fails)
		}
	}
	if !slices.Equal(c.Pins, []string{"GPIO5", "GPIO6", "GPIO7"}) || !slices.Equal(c.Names, []string{"gpio"}) {
		t.Errorf("claims %+v", c)
	}
	if key, ok := s.CheckDoor(&c, "p", "gpio", 0, 2); key != "door gpio/2" || !ok {
		t.Errorf("door 2: %q %v", key, ok)
	}
	c = drivertest.Check{}
	if _, ok := s.CheckDoor(&c, "p", "gpio", 1, 1); ok || !c.Failed("p.board: gpio doors have no board") {
		t.Errorf("door on a board: %q", c.Fails)
	}
}

func TestSettingsDoorConfigs(t *testing.T) {
	s := gpiodoor.Settings{Pulse: 300 * time.Millisecond, SensorOpen: gpiodoor.LevelLow, SensorPull: "down",
		Doors: []gpiodoor.DoorSettings{{Relay: "R1", Sensor: "S1"},
			{Name: "x", Relay: "R2", Sensor: "S2", RelayActive: gpiodoor.LevelHigh, SensorOpen: gpiodoor.LevelHigh, Pulse: time.Second}}}
	got := s.DoorConfigs()
	want := []gpiodoor.DoorConfig{
		{Name: "1", Relay: "R1", Pulse: 300 * time.Millisecond, Sensor: "S1", SensorOpenLow: true, SensorPull: "down"},
		{Name: "x", Relay: "R2", RelayActiveHigh: true, Pulse: time.Second, Sensor: "S2", SensorPull: "down"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%+v\nwant %+v", got, want)
	}
}

func TestSettingsOpen(t *testing.T) {
	pins := gpiotest.Registry{}
	for i, n := range []string{"R1", "S1", "R2", "R3", "S3"} {
		pins[n] = gpiotest.NewPin(n, i, gpio.Low)
	}
	env := drivertest.Env{Pins: pins.ByName}
	s := gpiodoor.Settings{Name: "gpio", Pulse: 30 * time.Millisecond, Doors: []gpiodoor.DoorSettings{
		{Name: "d1", Relay: "R1", Sensor: "S1"}, {Name: "d2", Relay: "R2", Sensor: "S2"}, {Relay: "R3", Sensor: "S3", Disabled: true}}}
	l, err := s.Open(env.Env())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if h := env.Health(); len(h) != 1 || !strings.HasPrefix(h[0], "door d2 failed: sensor pin S2 not found") {
		t.Errorf("health %q", h)
	}
	d1, d2, d3 := l.Door(0, 1), l.Door(0, 2), l.Door(0, 3)
	if !d1.Loaded() || d2.Loaded() || d3.Loaded() || l.Door(0, 4) != nil || l.Door(0, 0) != nil {
		t.Errorf("loaded: %v %v %v", d1.Loaded(), d2.Loaded(), d3.Loaded())
	}
	if d1.String() != "gpio door d1 (relay R1, sensor S1)" {
		t.Errorf("%s", d1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d1.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	pins["S1"].Set(gpio.High)
	for !slices.Contains(env.Doors(), "0/1 open") {
		if ctx.Err() != nil {
			t.Fatalf("no door report: %q", env.Doors())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if open, known := d1.State(); !open || !known {
		t.Errorf("state %v %v", open, known)
	}

	dup := gpiodoor.Settings{Name: "gpio", Doors: []gpiodoor.DoorSettings{{Name: "a", Relay: "R1"}, {Name: "a", Relay: "R2"}}}
	if _, err := dup.Open(env.Env()); !driver.IsRefused(err) {
		t.Errorf("duplicate door names: %v, want a refused config", err)
	}
}
