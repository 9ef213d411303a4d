package gpiodoor_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/gpiodoor"
	"periph.io/x/conn/v3/gpio"
)

func TestInitialState(t *testing.T) {
	tests := []struct {
		name     string
		openLow  bool
		level    gpio.Level
		wantOpen bool
	}{
		{"reed with pull-up, closed door reads low", false, gpio.Low, false},
		{"reed with pull-up, open door reads high", false, gpio.High, true},
		{"inverted sensor, low is open", true, gpio.Low, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := door("d1", "R1", "S1")
			d.SensorOpenLow = tt.openLow
			b := newBenchWith(t, []gpiodoor.DoorConfig{d}, map[string]gpio.Level{"S1": tt.level})
			c := b.change(t, "initial")
			if !c.Initial || c.Open != tt.wantOpen || c.Door != "d1" {
				t.Errorf("initial change %+v, want open=%v", c, tt.wantOpen)
			}
			if open, err := b.drv.DoorOpen("d1"); err != nil || open != tt.wantOpen {
				t.Errorf("DoorOpen = %v, %v", open, err)
			}
			if pull := b.pins["S1"].Pull(); pull != gpio.PullUp {
				t.Errorf("sensor pull %v, want PullUp by default", pull)
			}
		})
	}
}

// newBenchWith is newBench with initial sensor levels.
func newBenchWith(t testing.TB, doors []gpiodoor.DoorConfig, levels map[string]gpio.Level) *bench {
	t.Helper()
	// Build the pins first so their levels are in place before Open.
	bb := newPins(doors)
	for name, l := range levels {
		bb[name].SetQuiet(l)
	}
	return openBench(t, doors, bb)
}

func TestBouncingEdgesGiveOneChange(t *testing.T) {
	tests := []struct {
		name   string
		levels []gpio.Level
		open   bool
	}{
		{"opening with bounce", []gpio.Level{gpio.High, gpio.Low, gpio.High, gpio.Low, gpio.High}, true},
		{"bounce that returns to closed", []gpio.Level{gpio.High, gpio.Low, gpio.High, gpio.Low}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := door("d1", "R1", "S1")
			// Wide against the 2 ms bounce steps: a test goroutine descheduled for a
			// whole window mid-bounce on a loaded 2-core machine (CI) would otherwise
			// hold a level long enough to be a real change (seen once at 15 ms).
			d.Debounce = 60 * time.Millisecond
			b := newBench(t, []gpiodoor.DoorConfig{d})
			b.change(t, "initial")
			s := b.pins["S1"]
			var last time.Time
			for _, l := range tt.levels {
				s.Set(l)
				last = time.Now()
				time.Sleep(2 * time.Millisecond) // the bounce itself, not a wait
			}
			if !tt.open {
				b.noChange(t, 10*d.Debounce)
				return
			}
			c := b.change(t, "settled open")
			if !c.Open || c.Initial {
				t.Fatalf("change %+v, want open", c)
			}
			if lat := c.At.Sub(last); lat < d.Debounce {
				t.Errorf("reported %v after the last edge, before the %v debounce window", lat, d.Debounce)
			}
			b.noChange(t, 5*d.Debounce)
		})
	}
}

func TestChatteringSensorIsAFault(t *testing.T) {
	d := door("d1", "R1", "S1")
	d.Debounce = 2 * time.Millisecond // settles within 50 windows = 100 ms
	b := newBench(t, []gpiodoor.DoorConfig{d})
	b.change(t, "initial")
	s := b.pins["S1"]
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		l := gpio.High
		for {
			select {
			case <-stop:
				// Finally settles open. When the last bounce already left it high there
				// is no further edge: the driver must notice the quiet line by itself.
				if l == gpio.High {
					s.Set(gpio.High)
				}
				return
			default:
			}
			s.Set(l)
			l = !l
			time.Sleep(500 * time.Microsecond) // the chatter itself
		}
	}()
	select {
	case f := <-b.faults:
		if f.Cleared || f.Door != "d1" || f.Reason == "" {
			t.Errorf("fault %+v", f)
		}
	case <-time.After(waitLimit):
		t.Fatal("chattering sensor not reported")
	}
	close(stop)
	<-done
	select {
	case f := <-b.faults:
		if !f.Cleared {
			t.Errorf("second fault %+v, want cleared", f)
		}
	case <-time.After(waitLimit):
		t.Fatal("fault never cleared")
	}
	for c := b.change(t, "settled"); !c.Open; c = b.change(t, "settled open") {
	}
}

func TestStuckSensorReportsNothing(t *testing.T) {
	b := newBench(t, []gpiodoor.DoorConfig{door("d1", "R1", "S1")})
	b.change(t, "initial")
	for range 3 {
		if err := b.drv.Pulse(context.Background(), "d1"); err != nil {
			t.Fatal(err)
		}
	}
	// The lock was pulsed but the line never moved: no change is invented;
	// deciding "jammed" is the firmware's job.
	b.noChange(t, 100*time.Millisecond)
	if open, err := b.drv.DoorOpen("d1"); err != nil || open {
		t.Errorf("DoorOpen = %v, %v; want closed", open, err)
	}
}

func TestMissedEdgeIsCaught(t *testing.T) {
	b := newBench(t, []gpiodoor.DoorConfig{door("d1", "R1", "S1")})
	b.change(t, "initial")
	b.pins["S1"].SetQuiet(gpio.High) // the OS dropped the interrupt
	c := b.change(t, "re-read after the idle wait")
	if !c.Open {
		t.Errorf("change %+v, want open", c)
	}
}

// BenchmarkEdgeToCallback measures the time from a sensor edge to the
// Change callback, as a ratio to the debounce window. The driver waits for
// one quiet window after the last edge by design, so 1.0 is the floor; the
// excess is scheduling and callback-queue overhead. Fake pins signal edges
// through a channel, like gpioioctl's edge events; the real kernel path adds
// its interrupt latency (tens of microseconds on a Pi). The denominator is
// the configured window, not a baseline measured in the same run: the
// ratios are absolute times in units of the window and move with the
// machine's load as any absolute time does.
func BenchmarkEdgeToCallback(b *testing.B) {
	const debounce = 10 * time.Millisecond
	d := door("d1", "R1", "S1")
	d.Debounce = debounce
	bb := newBench(b, []gpiodoor.DoorConfig{d})
	bb.change(b, "initial")
	s := bb.pins["S1"]
	level := gpio.High
	var lat []time.Duration
	for b.Loop() {
		at := time.Now()
		s.Set(level)
		bb.change(b, "edge")
		lat = append(lat, time.Since(at))
		level = !level
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/float64(debounce), "p50/debounce")
	b.ReportMetric(float64(lat[len(lat)*99/100])/float64(debounce), "p99/debounce")
}
