package fleetsim_test

import (
	"context"
	"math"
	"runtime/debug"
	"testing"
	"time"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/sim"
	"github.com/lockerd/lockerd/sim/fleetsim"
)

// TestFleetLeavesTheCollectorAlone: the lockers of a fleet share one process, so none
// may set the Go collector's process-wide settings. lockerd sets a soft memory limit
// sized for one station (192 MiB); a thousand stations' heap is above it, and the
// collector then ran without pause (74% of the CPU in a 1,000-locker run, which never
// finished its day).
func TestFleetLeavesTheCollectorAlone(t *testing.T) {
	const limit = math.MaxInt64 - 1 // neither the default nor any station's
	oldLimit := debug.SetMemoryLimit(limit)
	defer debug.SetMemoryLimit(oldLimit)
	oldGC := debug.SetGCPercent(123)
	defer debug.SetGCPercent(oldGC)
	cloud, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	f, err := fleetsim.New(fleetsim.Options{Lockers: 2, Doors: 2, Dir: t.TempDir(), Cloud: cloud,
		Account: func(string, string) (config.MQTT, error) { return config.MQTT{}, nil }}) // offline lockers
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.StartAll(ctx, 2, nil); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Errorf("memory limit %d after the fleet started, want the process's own %d", got, int64(limit))
	}
	if got := debug.SetGCPercent(123); got != 123 {
		t.Errorf("GC percent %d after the fleet started, want the process's own 123", got)
	}
}
