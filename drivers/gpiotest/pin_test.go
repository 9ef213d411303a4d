package gpiotest_test

import (
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/lockerd/lockerd/drivers/gpiotest"
)

// TestOnRead: the hook runs before the level is taken, outside the pin's lock, so
// a level it sets is the one that Read returns.
func TestOnRead(t *testing.T) {
	p := gpiotest.NewPin("C0", 100, gpio.High)
	if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	reads := 0
	p.OnRead = func() {
		reads++
		if reads == 2 {
			p.Set(gpio.Low) // the pin's own lock: deadlocks if held
		} else {
			p.Set(gpio.High)
		}
	}
	for i, want := range []gpio.Level{gpio.High, gpio.Low, gpio.High} {
		if got := p.Read(); got != want {
			t.Errorf("read %d: %s, want %s", i+1, got, want)
		}
	}
	if reads != 3 {
		t.Errorf("OnRead called %d times for 3 reads", reads)
	}
	if !p.WaitForEdge(0) {
		t.Error("the levels set from OnRead signalled no edge")
	}
}
