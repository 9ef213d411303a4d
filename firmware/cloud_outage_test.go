package firmware_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/mqtt/cloud"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// TestCloudOutage runs lockerd as a process through 250 deposits and 250 pickups while
// the broker is stopped and later restarted. The locker must keep serving throughout,
// and the cloud must receive every event lockerd sends, each exactly once after
// de-duplication by id, in seq order 1, 2, 3, … with nothing missing.
func TestCloudOutage(t *testing.T) {
	const boards, locks, workers = 2, 16, 16
	n := 250
	if testing.Short() {
		n = 3 * boards * locks // three rounds: deposits, outage, restart
	}
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "OUTAGE-1", boards: boards, locks: locks, persistence: true,
		person: lockboardtest.OpenThenClose(30*time.Millisecond, 350*time.Millisecond)})
	d := newDaemon(t, w.station)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := d.start(ctx); err != nil {
		t.Fatal(err)
	}
	w.online(ctx, t, "")
	parcels := make([]sim.Parcel, n)
	for i := range parcels {
		parcels[i] = w.cloud.NewParcel("S")
	}
	w.provision(ctx, t, "OUTAGE-BADGE", "2468", parcels)

	cl := d.client
	sessions := make([]string, workers)
	for i := range sessions {
		var err error
		if sessions[i], err = cl.Login(ctx, "OUTAGE-BADGE", "2468"); err != nil {
			t.Fatal(err)
		}
	}
	rounds := (n + boards*locks - 1) / (boards * locks)
	stopAt, restartAt := 1, max(rounds-3, 2) // the broker is down for at least one round
	if restartAt >= rounds {
		t.Fatalf("%d parcels make %d rounds: too few for an outage", n, rounds)
	}
	for r := range rounds {
		batch := parcels[r*boards*locks : min((r+1)*boards*locks, n)]
		parallel(t, batch, workers, func(i int, p sim.Parcel) error {
			seq0 := w.station.Boards.LastSeq()
			slot, err := cl.Scan(ctx, sessions[i], p.Tracking, "")
			if err != nil {
				return fmt.Errorf("deposit of %s: %w", p.ID, err)
			}
			return waitShut(ctx, w.station, seq0, slot.Compartment, locks)
		})
		if err := waitIdle(ctx, cl); err != nil {
			t.Fatal(err)
		}
		switch r {
		case stopAt:
			w.broker.Stop() // the deposits' last events may still be on their way
			t.Logf("broker stopped after the deposits of round %d of %d", r+1, rounds)
		case restartAt:
			w.broker.Restart()
			t.Logf("broker restarted after the deposits of round %d of %d", r+1, rounds)
		}
		parallel(t, batch, workers, func(_ int, p sim.Parcel) error {
			seq0 := w.station.Boards.LastSeq()
			got, err := cl.Pickup(ctx, p.Code)
			if err != nil || len(got.Slots) != 1 {
				return fmt.Errorf("pickup of %s: %v %v", p.ID, got, err)
			}
			return waitShut(ctx, w.station, seq0, got.Slots[0].Compartment, locks)
		})
		if err := waitIdle(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	if t.Failed() {
		return
	}

	// Everything lockerd sent is acknowledged by the broker: then stop it and count what
	// it committed for the cloud.
	drained(ctx, t, w)
	d.stop()
	want := sentEvents(storedEvents(t, w.station))
	got := map[string]int{} // parcel/event type -> count
	events := &eventLog{t: t, c: w.client}
	for len(events.events) < want {
		ev := events.next(ctx, 45*time.Second)
		if b, ok := ev.Body.(*protocol.ParcelEvent); ok {
			got[b.Parcel+"/"+string(ev.Type)]++
		}
	}
	ids := map[string]bool{}
	for i, ev := range events.events {
		if ev.Seq != uint64(i+1) || ids[ev.ID] {
			t.Fatalf("event %d: seq %d, id repeated %v", i, ev.Seq, ids[ev.ID])
		}
		ids[ev.ID] = true
	}
	for _, p := range parcels {
		if got[p.ID+"/deposited"] != 1 || got[p.ID+"/picked_up"] != 1 {
			t.Errorf("parcel %s: %d deposited, %d picked_up events", p.ID, got[p.ID+"/deposited"], got[p.ID+"/picked_up"])
		}
	}
	stats := w.client.EventStats()
	if stats.Gaps != 0 || stats.OutOfOrder != 0 || stats.Invalid != 0 {
		t.Errorf("event stats %+v", stats)
	}
	t.Logf("%d parcels deposited and picked up; %d events received in seq order (%d duplicates dropped, %d held back for order)",
		n, want, stats.Duplicates, stats.Reordered)
}

// parallel runs f over items with the given number of workers; worker i gets every
// item with index = i modulo workers. Errors fail the test.
func parallel(t *testing.T, items []sim.Parcel, workers int, f func(worker int, p sim.Parcel) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(items))
	for i := range min(workers, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < len(items); j += workers {
				if err := f(i, items[j]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// drained polls lockerd's status over MQTT until no event waits for the broker's ack.
func drained(ctx context.Context, t *testing.T, w *cloudWorld) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		r, err := w.client.Do(rctx, w.station.ID, &protocol.StatusBody{})
		cancel()
		if err != nil && !errors.Is(err, cloud.ErrNoReply) {
			t.Fatal(err)
		}
		if err == nil {
			res, derr := protocol.DecodeResult(protocol.CmdStatus, r.Body)
			if derr != nil {
				t.Fatal(derr)
			}
			if res.(*protocol.StatusResult).Outbox == 0 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("lockerd's outbox did not drain within 60s")
}
