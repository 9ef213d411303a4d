package firmware_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestCloudCrash SIGKILLs lockerd (a process) while it handles remote door openings:
// right after it accepted a command, or at a random moment after the command was
// sent. The cloud re-sends each command until it gets a final reply, and once more
// after that. The virtual boards' history is the truth: no command may pulse a lock
// twice; a command answered done pulsed it once; one found in progress after the kill
// is answered unknown/interrupted and pulsed it at most once (before the kill).
func TestCloudCrash(t *testing.T) {
	const locks = 8
	commands := 27
	if testing.Short() {
		commands = 9
	}
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "KILL-01", locks: locks, resend: time.Second,
		person: lockboardtest.OpenThenClose(30*time.Millisecond, 300*time.Millisecond),
		mqtt:   func(m *config.MQTT) { m.RemoteOpen = config.RateLimit{Max: 1000, Per: time.Hour} }})
	d := newDaemon(t, w.station)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := d.start(ctx); err != nil {
		t.Fatal(err)
	}
	w.online(ctx, t, "")
	rng := rand.New(rand.NewPCG(3, uint64(time.Now().UnixNano())))
	statuses := map[protocol.Status]int{}
	kills := 0
	for k := range commands {
		comp := uint16(k%locks + 1)
		cmd, err := w.client.NewCommand(w.station.ID, &protocol.OpenCompartmentBody{Compartment: comp,
			Reason: protocol.OpenMaintenance, Operator: "op-crash"})
		if err != nil {
			t.Fatal(err)
		}
		seq0 := w.station.Boards.LastSeq()
		restarted := make(chan error, 1)
		killAndRestart := func() {
			d.kill()
			restarted <- d.start(ctx)
		}
		var accepted func(*protocol.Reply)
		switch k % 3 {
		case 0: // in the handler: the id is recorded, the pulse under way
			var once sync.Once
			accepted = func(*protocol.Reply) { once.Do(func() { go killAndRestart() }) }
		case 1: // anywhere: before, during or after the handler
			time.AfterFunc(time.Duration(rng.IntN(40))*time.Millisecond, killAndRestart)
		default:
			restarted <- nil
		}
		r, err := w.client.Send(ctx, cmd, accepted)
		if err != nil {
			t.Fatalf("command %d: %v", k, err)
		}
		if k%3 != 2 {
			if err := <-restarted; err != nil {
				t.Fatalf("restart after command %d: %v", k, err)
			}
			kills++
		}
		// A late duplicate (a broker redelivery, a cloud retry) gets the same answer and
		// moves nothing.
		again, err := w.client.Send(ctx, cmd, nil)
		if err != nil || again.Status != r.Status {
			t.Fatalf("command %d again: %v %v, first %s", k, again, err, r.Status)
		}
		statuses[r.Status]++
		unlocks := 0
		for _, e := range w.station.Boards.History() {
			if e.Seq <= seq0 || e.Kind != lockboardtest.EventUnlock {
				continue
			}
			if b, l := doorOf(locker.CompartmentID(comp), locks); e.Board != b || e.Lock != l {
				t.Fatalf("command %d for compartment %d pulsed board %d lock %d", k, comp, e.Board, e.Lock)
			}
			unlocks++
		}
		switch {
		case r.Status == protocol.StatusDone && unlocks != 1,
			r.Status == protocol.StatusUnknown && (unlocks > 1 || r.Reason != protocol.ReasonInterrupted),
			r.Status != protocol.StatusDone && r.Status != protocol.StatusUnknown && unlocks != 0:
			t.Fatalf("command %d: %s/%s (%s) with %d unlocks", k, r.Status, r.Reason, r.Detail, unlocks)
		}
		if unlocks == 1 {
			if err := waitShut(ctx, w.station, seq0, locker.CompartmentID(comp), locks); err != nil {
				t.Fatalf("command %d: door never shut: %v", k, err)
			}
		}
		if err := waitIdle(ctx, d.client); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d commands, %d kills: %v", commands, kills, statuses)
	if statuses[protocol.StatusUnknown] == 0 || statuses[protocol.StatusDone] == 0 {
		t.Errorf("want both done and unknown outcomes, got %v", statuses)
	}
	d.stop()
}
