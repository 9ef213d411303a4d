package firmware_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// TestCloudOutage runs lockerd as a process through 250 deposits and 250 pickups while
// the broker is stopped and later restarted. The locker must keep serving throughout,
// and the cloud must receive every event lockerd sends, each exactly once after
// de-duplication by id, in seq order 1, 2, 3, … with nothing missing.
//
// What the cloud should receive comes from the scenario itself (outageModel), written
// from docs/protocol.md §5 and ADR 0026, not from the filter lockerd uses to choose what
// it sends: an event type lockerd stops sending is missing here, and one it starts
// sending (or a spurious hardware report) is an extra event, and both fail the test.
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
	w.provision(ctx, t, "OUTAGE-BADGE-ABCDEFGHIJKLMNOPQRSTU", "2468", parcels)

	cl := d.client
	model := newOutageModel()
	sessions := make([]string, workers)
	for i := range sessions {
		var err error
		if sessions[i], err = cl.Login(ctx, "OUTAGE-BADGE-ABCDEFGHIJKLMNOPQRSTU", "2468"); err != nil {
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
			model.deposited(p.ID, uint16(slot.Compartment))
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
			got, err := cl.PickupCode(ctx, p.Code, p.Phone)
			if err != nil || len(got.Slots) != 1 {
				return fmt.Errorf("pickup of %s: %v %v", p.ID, got, err)
			}
			model.pickedUp(p.ID, uint16(got.Slots[0].Compartment))
			return waitShut(ctx, w.station, seq0, got.Slots[0].Compartment, locks)
		})
		if err := waitIdle(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	if t.Failed() {
		return
	}

	// Everything lockerd sent is acknowledged by the broker: then stop it, so that
	// nothing more is sent, and read what the cloud received.
	drained(ctx, t, w)
	d.stop()
	want := model.events()
	// Read until the model's count has arrived and then for a quiet period more: the
	// outbox is drained and lockerd stopped, so an extra event is already on its way.
	// An event that never comes (a type lockerd stopped sending) ends the wait after
	// the cloud's reorder window, and the comparison below names it.
	var received []fleet.Event
	for {
		wait := outageQuiet
		if len(received) < total(want) {
			wait = fleet.DefaultReorderWindow + 15*time.Second
		}
		rctx, rcancel := context.WithTimeout(ctx, wait)
		ev, err := w.client.NextEvent(rctx)
		rcancel()
		if err != nil {
			break
		}
		received = append(received, ev)
	}
	ids := map[string]bool{}
	for i, ev := range received {
		if ev.Seq != uint64(i+1) || ids[ev.ID] {
			t.Fatalf("event %d: seq %d, id repeated %v", i, ev.Seq, ids[ev.ID])
		}
		ids[ev.ID] = true
	}
	got := map[string]int{}
	for _, ev := range received {
		got[outageKey(ev)]++
	}
	for _, d := range diffCounts(want, got, 3) {
		t.Error(d)
	}
	// Every event on the wire is one lockerd committed, under the same id and type.
	audit := map[string]string{}
	for _, e := range storedEvents(t, w.station) {
		audit[e.ID] = string(e.Type)
	}
	var unaudited []string
	for _, ev := range received {
		if audit[ev.ID] != string(ev.Type) {
			unaudited = append(unaudited, fmt.Sprintf("seq %d %s (audited as %q)", ev.Seq, ev.Type, audit[ev.ID]))
		}
	}
	if len(unaudited) > 0 {
		t.Errorf("%d events are not in lockerd's audit log under their id and type, such as %s",
			len(unaudited), strings.Join(unaudited[:min(3, len(unaudited))], "; "))
	}
	stats := w.client.EventStats()
	if stats.Gaps != 0 || stats.OutOfOrder != 0 || stats.Invalid != 0 {
		t.Errorf("event stats %+v", stats)
	}
	t.Logf("%d parcels deposited and picked up; %d events received in seq order, %d expected (%d duplicates dropped, %d held back for order)",
		n, len(received), total(want), stats.Duplicates, stats.Reordered)
}

// outageQuiet is how long the outage test waits for events beyond those it expects.
const outageQuiet = 3 * time.Second

// outageModel is what the cloud should receive from the outage scenario, from what the
// scenario did: one start of lockerd, which reports its health once at start (the
// interval is an hour), and per parcel a deposit by courier c-1 and a pickup with its
// code, each of which pulses the relay of its compartment, sees the door open and
// shut, and then reports the parcel's new state (docs/protocol.md §5.2, ADR 0026).
// Healthy virtual hardware reports no hardware event.
type outageModel struct {
	mu   sync.Mutex
	want map[string]int
}

func newOutageModel() *outageModel {
	return &outageModel{want: map[string]int{string(protocol.EvHealth): 1}}
}

func (m *outageModel) deposited(parcel string, c uint16) {
	m.operation(parcel, c, protocol.OpDeposit, "c-1", protocol.EvDeposited)
}

func (m *outageModel) pickedUp(parcel string, c uint16) {
	m.operation(parcel, c, protocol.OpPickup, string(locker.ActorRecipient), protocol.EvPickedUp)
}

func (m *outageModel) operation(parcel string, c uint16, op protocol.DoorOp, actor string, outcome protocol.EventType) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, typ := range []protocol.EventType{protocol.EvUnlocked, protocol.EvDoorOpened, protocol.EvDoorClosed} {
		m.want[doorKey(typ, c, op, parcel, actor)]++
	}
	m.want[parcelKey(outcome, parcel, c, actor)]++
}

// events returns the expected events as counts per key.
func (m *outageModel) events() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.want)
}

// total is the sum of the counts.
func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

func doorKey(typ protocol.EventType, c uint16, op protocol.DoorOp, parcel, actor string) string {
	return fmt.Sprintf("%s compartment=%d op=%s parcel=%s actor=%s", typ, c, op, parcel, actor)
}

func parcelKey(typ protocol.EventType, parcel string, c uint16, actor string) string {
	return fmt.Sprintf("%s parcel=%s compartment=%d actor=%s", typ, parcel, c, actor)
}

// outageKey names a received event as the model does; an event of a type the model
// has no key for is named by its type and body, so that it shows up as extra.
func outageKey(ev fleet.Event) string {
	switch b := ev.Body.(type) {
	case *protocol.DoorEvent:
		if b.Command == "" && b.OpenS == 0 {
			return doorKey(ev.Type, b.Compartment, b.Op, b.Parcel, b.Actor)
		}
	case *protocol.ParcelEvent:
		if b.Command == "" && b.Waybill == nil && b.Size == "" {
			return parcelKey(ev.Type, b.Parcel, b.Compartment, b.Actor)
		}
	case *protocol.HealthEvent:
		return string(ev.Type)
	}
	return fmt.Sprintf("%s %+v", ev.Type, ev.Body)
}

// diffCounts compares expected and received events per type: what want has that got
// lacks and what got has that want does not, each with up to examples of its keys.
func diffCounts(want, got map[string]int, examples int) []string {
	type diff struct {
		n    int
		keys []string
	}
	diffs := map[string]*diff{} // "missing <type>" or "extra <type>"
	add := func(kind, key string, n int) {
		typ, _, _ := strings.Cut(key, " ")
		d := diffs[kind+" "+typ]
		if d == nil {
			d = &diff{}
			diffs[kind+" "+typ] = d
		}
		d.n += n
		d.keys = append(d.keys, key)
	}
	for k, n := range want {
		if got[k] < n {
			add("missing", k, n-got[k])
		}
	}
	for k, n := range got {
		if n > want[k] {
			add("extra", k, n-want[k])
		}
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(diffs)) {
		d := diffs[name]
		slices.Sort(d.keys)
		out = append(out, fmt.Sprintf("%s: %d events, such as %s", name, d.n,
			strings.Join(d.keys[:min(examples, len(d.keys))], "; ")))
	}
	return out
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
		if err != nil && !errors.Is(err, fleet.ErrNoReply) {
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
