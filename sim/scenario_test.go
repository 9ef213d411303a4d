package sim

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/locker/waybill"
)

// runStation starts lockerd in-process for st and returns its events and a stop func.
func runStation(t *testing.T, st *Station) *Events {
	t.Helper()
	events := NewEvents(1024)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx, slog.New(slog.DiscardHandler), events.Observe, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("lockerd did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("lockerd stopped with %v", err)
		}
	})
	return events
}

// play starts lockerd for sc.Station (runStation) and plays sc against it within a
// minute, with these tests' door timeout; a failed scenario fails the test with what
// it printed, which play returns.
func play(t *testing.T, sc Scenario) string {
	t.Helper()
	var out bytes.Buffer
	sc.Out, sc.Events, sc.DoorTimeout = &out, runStation(t, sc.Station), 10*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sc.Run(ctx); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	return out.String()
}

// TestScenario is what `make run` shows: it must keep working end to end, through the
// real lockboard driver and virtual CU16 boards on a pty.
func TestScenario(t *testing.T) {
	cloud, err := NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewStation(StationOptions{LockerID: "SIM-T", Dir: t.TempDir(), Cloud: cloud,
		Person: lockboardtest.OpenThenClose(30*time.Millisecond, 250*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := play(t, Scenario{Station: st, Cloud: cloud})
	for _, want := range []string{"deposited", "Alice took", "Bob took p-0002", "Bob took p-0003", "3 picked_up"} {
		if !strings.Contains(out, want) {
			t.Errorf("scenario output lacks %q:\n%s", want, out)
		}
	}
}

func TestStaffedScenario(t *testing.T) {
	cloud, _ := NewCloud()
	st, err := NewStation(StationOptions{LockerID: "SIM-S", Dir: t.TempDir(), Cloud: cloud, Shelves: 2})
	if err != nil {
		t.Fatal(err)
	}
	runStation(t, st)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := (&Scenario{Out: &out, Station: st, Cloud: cloud}).RunStaffed(ctx); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "refused") || !strings.Contains(out.String(), "picked up") {
		t.Fatalf("%s", out.String())
	}
}

func TestRandomS10IsValid(t *testing.T) {
	for range 200 {
		tn := RandomS10()
		if k, err := waybill.Normalise(tn); err != nil || waybill.KindOf(k) != waybill.KindS10 {
			t.Fatalf("%s: %v", tn, err)
		}
	}
}
