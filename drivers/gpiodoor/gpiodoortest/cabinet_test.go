package gpiodoortest_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/gpiodoor"
	"github.com/lockerd/lockerd/drivers/gpiodoor/gpiodoortest"
)

// The door stays open for closeAfter: a sensor change the driver must see, so a
// window far longer than the driver's debounce plus any scheduling stall of a
// loaded machine (a door open for 20 ms was missed under load, rightly: the
// driver reads the level after a quiet debounce window, and a glitch that short
// is no opening).
const openAfter, closeAfter = 10 * time.Millisecond, 300 * time.Millisecond

func TestCabinetDrivesSensorsFromRelays(t *testing.T) {
	tests := []struct {
		name   string
		spec   gpiodoortest.DoorSpec
		policy gpiodoortest.Policy
		opens  bool
	}{
		{"active-low relay, reed to ground", gpiodoortest.DoorSpec{Name: "a", Relay: "R", Sensor: "S"},
			gpiodoortest.OpenThenClose(openAfter, closeAfter), true},
		{"active-high relay, inverted sensor", gpiodoortest.DoorSpec{Name: "a", Relay: "R", Sensor: "S", RelayActiveHigh: true, SensorOpenLow: true},
			gpiodoortest.OpenThenClose(openAfter, closeAfter), true},
		{"jammed", gpiodoortest.DoorSpec{Name: "a", Relay: "R", Sensor: "S"},
			func(string) gpiodoortest.Plan { return gpiodoortest.Plan{Jam: true} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cab, err := gpiodoortest.NewCabinet([]gpiodoortest.DoorSpec{tt.spec}, tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			defer cab.Close()
			changes := make(chan gpiodoor.Change, 16)
			drv, err := gpiodoor.Open(gpiodoor.Config{
				Doors: []gpiodoor.DoorConfig{{Name: "a", Relay: "R", Sensor: "S", RelayActiveHigh: tt.spec.RelayActiveHigh,
					SensorOpenLow: tt.spec.SensorOpenLow, Pulse: 20 * time.Millisecond, Debounce: 5 * time.Millisecond}},
				ByName:   cab.ByName,
				OnChange: func(c gpiodoor.Change) { changes <- c },
				Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer drv.Close()
			if c := <-changes; !c.Initial || c.Open {
				t.Fatalf("initial %+v, want closed", c)
			}
			pulsed := time.Now()
			if err := drv.Pulse(context.Background(), "a"); err != nil {
				t.Fatal(err)
			}
			if cab.Pulses("a") != 1 {
				t.Errorf("Pulses = %d, want 1", cab.Pulses("a"))
			}
			want := []bool{true, false}
			if !tt.opens {
				want = nil
			}
			for i, w := range want {
				select {
				case c := <-changes:
					if c.Open != w {
						t.Fatalf("change %+v, want open=%v", c, w)
					}
					// Lower bounds only: a loaded machine makes changes late, never early.
					if d, least := c.At.Sub(pulsed), []time.Duration{openAfter, openAfter + closeAfter}[i]; d < least {
						t.Errorf("change to open=%v %v after the pulse, before the policy's %v", w, d, least)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("no change to open=%v", w)
				}
			}
			select {
			case c := <-changes:
				t.Errorf("extra change %+v", c)
			case <-time.After(60 * time.Millisecond):
			}
		})
	}
}
