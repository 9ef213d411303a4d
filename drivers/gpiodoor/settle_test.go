package gpiodoor_test

import (
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lockerd/lockerd/drivers/gpiodoor"
	"github.com/lockerd/lockerd/drivers/gpiotest"
)

// slowPullUp is a sensor line held low since boot that rises a few milliseconds
// after its pull-up is enabled, as the internal pull-up charges the filter
// capacitor: the door is open (the reed switch is apart).
type slowPullUp struct{ *gpiotest.Pin }

func (p slowPullUp) In(pull gpio.Pull, edge gpio.Edge) error {
	err := p.Pin.In(pull, edge)
	time.AfterFunc(5*time.Millisecond, func() { p.SetQuiet(gpio.High) })
	return err
}

// TestInitialReadAfterSettling: an open door whose line is still charging when the
// driver opens is first reported open, not closed and then open (which the station
// would take for an uncommanded opening at every start).
func TestInitialReadAfterSettling(t *testing.T) {
	sensor := slowPullUp{gpiotest.NewPin("S", 2, gpio.Low)}
	changes := openSensedDoor(t, sensor)
	select {
	case c := <-changes:
		if !c.Initial || !c.Open {
			t.Fatalf("first report %+v, want the initial state: open", c)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no initial report")
	}
}

// brokenEdges is a sensor line whose edge wait fails at once, as gpioioctl's does
// when its edge request is gone; it counts the waits.
type brokenEdges struct {
	*gpiotest.Pin
	waits atomic.Int64
}

func (p *brokenEdges) WaitForEdge(time.Duration) bool { p.waits.Add(1); return false }

// TestBrokenEdgeWaitDoesNotSpin: a sensor whose edge wait fails at once is polled
// (a door change still arrives) instead of spinning a core on the wait.
func TestBrokenEdgeWaitDoesNotSpin(t *testing.T) {
	sensor := &brokenEdges{Pin: gpiotest.NewPin("S", 2, gpio.Low)}
	changes := openSensedDoor(t, sensor)
	<-changes // the initial state: closed
	before := sensor.waits.Load()
	sensor.SetQuiet(gpio.High) // the door opens; no edge will tell
	select {
	case c := <-changes:
		if !c.Open {
			t.Fatalf("change %+v, want open", c)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the opening was never seen")
	}
	time.Sleep(500 * time.Millisecond)
	if n := sensor.waits.Load() - before; n > 50 {
		t.Fatalf("%d edge waits in about 0.5 s: spinning", n)
	}
}

// openSensedDoor opens a driver for one door "d" with a fresh relay pin and sensor,
// closed with the test, and returns its changes.
func openSensedDoor(t *testing.T, sensor gpio.PinIO) <-chan gpiodoor.Change {
	t.Helper()
	relay := gpiotest.NewPin("R", 1, gpio.High)
	changes := make(chan gpiodoor.Change, 8)
	drv, err := gpiodoor.Open(gpiodoor.Config{
		Doors: []gpiodoor.DoorConfig{{Name: "d", Relay: "R", Sensor: "S"}},
		ByName: func(n string) gpio.PinIO {
			switch n {
			case "R":
				return relay
			case "S":
				return sensor
			}
			return nil
		},
		OnChange: func(c gpiodoor.Change) { changes <- c },
		Logger:   quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	return changes
}
