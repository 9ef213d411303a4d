package gpiodoor_test

import (
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/gpiodoor"
	"periph.io/x/conn/v3/gpio"
)

// BenchmarkEdgeToCallback measures the time from a sensor edge to the
// Change callback, as a ratio to the debounce window. The driver waits for
// one quiet window after the last edge by design, so 1.0 is the floor; the
// excess is scheduling and callback-queue overhead. Fake pins signal edges
// through a channel, like gpioioctl's edge events; the real kernel path adds
// its interrupt latency (tens of microseconds on a Pi).
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
