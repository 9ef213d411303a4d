package cloudlink

import (
	"log/slog"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestStartingDriverIsNoNews: a driver loaded but not yet reporting (a serial port
// opening) is no hardware event: the reporter records nothing for it (it has no
// station here: a record would panic) (found by a review: a "failed" event at some
// starts). firmware's test of the same name checks how such a driver reads.
func TestStartingDriverIsNoNews(t *testing.T) {
	starting := Driver{Name: "front", Health: protocol.HealthUnknown, Code: "starting", Starting: true}
	r := &healthReporter{drivers: func() []Driver { return []Driver{starting} }, log: slog.New(slog.DiscardHandler)}
	last := map[string]protocol.Health{"front": protocol.HealthOK}
	r.hardware(last)
	if last["front"] != protocol.HealthOK {
		t.Fatalf("the reporter took a starting driver's state: %v", last)
	}
}

// TestFlappingDriverIsReportedAtMostFlapMaxTimes: a driver whose state keeps changing
// gets at most flapMax hardware events per window; once the window lets it through
// again, its current state is reported.
func TestFlappingDriverIsReportedAtMostFlapMaxTimes(t *testing.T) {
	r := &healthReporter{log: slog.New(slog.DiscardHandler)}
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	allowed := 0
	for i := range 100 { // a change every poll for 200 s
		now := start.Add(time.Duration(i) * hardwarePoll)
		if r.allowChange("bus0", now) {
			allowed++
			r.flaps["bus0"] = append(r.flaps["bus0"], now)
		}
	}
	if allowed != flapMax {
		t.Fatalf("%d changes recorded in %v, want %d", allowed, 100*hardwarePoll, flapMax)
	}
	if !r.allowChange("bus0", start.Add(flapWindow+time.Second)) {
		t.Fatal("the window passed, and the current state is still held back")
	}
	if !r.allowChange("front", start) {
		t.Fatal("another driver is held back by bus0's flapping")
	}
}
