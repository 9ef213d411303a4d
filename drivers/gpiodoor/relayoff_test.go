package gpiodoor_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lockerd/lockerd/drivers/gpiodoor"
	"github.com/lockerd/lockerd/drivers/gpiotest"
)

// flakyRelay fails the next failOff writes of the off level (High: active-low).
type flakyRelay struct {
	*gpiotest.Pin
	failOff atomic.Int32
}

func (p *flakyRelay) Out(l gpio.Level) error {
	if l == gpio.High && p.failOff.Load() > 0 {
		p.failOff.Add(-1)
		return errors.New("EBUSY (injected)")
	}
	return p.Pin.Out(l)
}

// TestRelayOffWriteFails: an off write that fails is retried until the relay is off,
// and the driver never reports as off a relay whose off write failed (found by a
// review: one failed write left the solenoid energised and the record said off).
func TestRelayOffWriteFails(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int32
		pulseErr bool // the retries at once are spent: Pulse reports it
	}{
		{"transient", 3, false},
		{"lasting", 8, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relay := &flakyRelay{Pin: gpiotest.NewPin("R", 1, gpio.High)}
			drv, err := gpiodoor.Open(gpiodoor.Config{
				Doors: []gpiodoor.DoorConfig{{Name: "d", Relay: "R", Pulse: 50 * time.Millisecond}},
				ByName: func(n string) gpio.PinIO {
					if n == "R" {
						return relay
					}
					return nil
				},
				Logger: quiet,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer drv.Close()
			relay.failOff.Store(tc.failures)
			err = drv.Pulse(context.Background(), "d")
			if (err != nil) != tc.pulseErr {
				t.Fatalf("Pulse: %v, want an error: %v", err, tc.pulseErr)
			}
			if on, _ := drv.Relay("d"); tc.pulseErr && !on {
				t.Fatal("the driver says off while its off writes fail")
			}
			deadline := time.Now().Add(gpiodoor.MaxPulse + 3*time.Second)
			for relay.Level() == gpio.Low {
				if time.Now().After(deadline) {
					t.Fatal("the relay stays energised")
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			if on, _ := drv.Relay("d"); on {
				t.Fatal("the relay is off but the driver says on")
			}
		})
	}
}
