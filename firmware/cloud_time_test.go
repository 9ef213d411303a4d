package firmware_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/clock"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// boardClock is a board's clocks for an in-process lockerd: the real clocks, the wall
// clock off by an offset the test steps (fake-hwclock, date -s, a wrong NTP server).
type boardClock struct {
	start  time.Time
	mu     sync.Mutex
	off    time.Duration
	synced atomic.Bool
}

func (c *boardClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off).Round(0)
}
func (c *boardClock) Mono() time.Duration { return time.Since(c.start) }
func (c *boardClock) step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// runWithClock runs lockerd in this process on c until the test ends or stop, its
// clock's floor raised to floor (lockerd raises it to its build's time).
func (w *cloudWorld) runWithClock(t *testing.T, c *boardClock, floor time.Time) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	opt := w.station.Options()
	opt.Ready = func() { close(ready) }
	opt.Time = clock.New(c, func() (bool, error) { return c.synced.Load(), nil }, clock.DefaultPolicy())
	opt.Time.RaiseFloor(floor)
	go func() { done <- firmware.Run(ctx, w.station.Config, quietLog(), opt) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("lockerd: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("lockerd did not stop within 20s")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("lockerd did not start: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("lockerd not ready after 15s")
	}
	return stop
}

// TestCloudTimeCommand: through mosquitto, a locker whose clock reads 1970 and whose
// time service never answers connects (TLS checks the broker's certificate at the
// station's time: its floor, here a build half an hour old, advanced by the monotonic
// clock; the test CA's certificates are an hour old), refuses the cloud's commands
// not_yet_valid, but takes a signed time command (docs/protocol.md §3.2); after it,
// the cloud's commands run. The same time command again is answered from the command
// log, an older one under a new id is refused stale.
func TestCloudTimeCommand(t *testing.T) {
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "TIME-01"})
	c := &boardClock{start: time.Now(), off: time.Until(time.Unix(0, 0))}
	w.runWithClock(t, c, time.Now().Add(-30*time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.online(ctx, t, "")
	n := 0
	send := func(cmd func(id string) (*protocol.Reply, error)) *protocol.Reply {
		t.Helper()
		n++
		r, err := cmd(fmt.Sprintf("time-%d", n))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	at := func(body protocol.Body, iat time.Time) func(string) (*protocol.Reply, error) {
		return func(id string) (*protocol.Reply, error) {
			cmd, err := w.client.NewCommandAt(w.station.ID, id, body, iat, 5*time.Minute)
			if err != nil {
				return nil, err
			}
			return w.client.Send(ctx, cmd, nil)
		}
	}
	if r := send(at(&protocol.PingBody{}, time.Now())); r.Reason != protocol.ReasonNotYetValid {
		t.Fatalf("a ping to a 1970 locker: %s/%s, want not_yet_valid", r.Status, r.Reason)
	}
	iat := time.Now().Truncate(time.Second)
	timeCmd, err := w.client.NewCommandAt(w.station.ID, "time-set", &protocol.TimeBody{}, iat, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.client.Send(ctx, timeCmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := protocol.DecodeResult(protocol.CmdTime, r.Body)
	if err != nil || r.Status != protocol.StatusDone {
		t.Fatalf("time command: %+v %v", r, err)
	}
	if tr := res.(*protocol.TimeResult); tr.Wall.Year() != 1970 || tr.Source != string(clock.SourceTime) || r.Time.Sub(iat).Abs() > time.Minute {
		t.Fatalf("time command's reply: %+v at %v, want the 1970 wall clock and a trusted time near %v", tr, r.Time, iat)
	}
	if r := send(at(&protocol.PingBody{}, time.Now())); r.Status != protocol.StatusDone {
		t.Fatalf("a ping after the time command: %s/%s (%s)", r.Status, r.Reason, r.Detail)
	}
	again, err := w.client.Send(ctx, timeCmd, nil)
	if err != nil || again.Status != protocol.StatusDone || !again.Time.Equal(r.Time) {
		t.Fatalf("the same time command again: %+v %v, want the stored reply %v", again, err, r.Time)
	}
	if r := send(at(&protocol.TimeBody{}, iat.Add(-30*time.Second))); r.Reason != protocol.ReasonStale {
		t.Fatalf("an older time command: %s/%s, want stale", r.Status, r.Reason)
	}
}

// TestCloudClockForwardThenBack: issue 13 through mosquitto, on a locker whose time
// service says "synchronised" throughout. Its wall clock pushed forward 30 days: the
// step is reported (the fleet receives the clock event), the cloud's commands still
// run (the link checks them by the trusted time) and no announcement is cancelled;
// set back: a command sent again is answered from the log, not run again. The audit
// log holds no cancellation and both steps.
func TestCloudClockForwardThenBack(t *testing.T) {
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "TIME-02"})
	c := &boardClock{start: time.Now()}
	c.synced.Store(true)
	var steps atomic.Int32
	stop := w.runWithClock(t, c, time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.online(ctx, t, "")
	w.provision(ctx, t, "BADGE-T2-ABCDEFGHIJKLMNOPQR", "2468", []sim.Parcel{w.cloud.NewParcel("S")})
	cancelCmd, err := w.client.NewCommandAt(w.station.ID, "cancel-none", &protocol.CancelBody{Parcel: "p-none"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	first, err := w.client.Send(ctx, cancelCmd, nil)
	if err != nil || first.Reason != protocol.ReasonNotFound {
		t.Fatalf("cancel of an unknown parcel: %+v %v", first, err)
	}

	events := &eventLog{t: t, c: w.client}
	c.step(30 * 24 * time.Hour)
	step := events.await(ctx, protocol.EvClock, func(e fleet.Event) bool { return e.Body.(*protocol.ClockEvent).Kind == "step" })
	if b := step.Body.(*protocol.ClockEvent); b.ByS < 30*24*3600-5 {
		t.Fatalf("the step as the fleet sees it: %+v", b)
	}
	ping, err := w.client.NewCommandAt(w.station.ID, "ping-ahead", &protocol.PingBody{}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.client.Send(ctx, ping, nil); err != nil || r.Status != protocol.StatusDone {
		t.Fatalf("a ping while the wall clock is 30 days ahead: %+v %v", r, err)
	}

	c.step(-30 * 24 * time.Hour)
	time.Sleep(time.Second)
	again, err := w.client.Send(ctx, cancelCmd, nil)
	if err != nil || again.Reason != protocol.ReasonNotFound || !again.Time.Equal(first.Time) {
		t.Fatalf("the cancel sent again after forward and back: %+v %v, want the stored reply", again, err)
	}
	stop()
	for _, e := range storedEvents(t, w.station) {
		switch {
		case e.Type == locker.EvCancelled:
			t.Fatalf("announcement cancelled on a stepped clock: %+v", e)
		case e.Type == locker.EvClock && e.Source == string(clock.KindStep):
			steps.Add(1)
		}
	}
	if steps.Load() != 2 {
		for _, e := range storedEvents(t, w.station) {
			if e.Type == locker.EvClock {
				t.Logf("%s %s %d %s", e.At, e.Source, e.Seconds, e.Reason)
			}
		}
		t.Fatalf("%d steps reported, want 2 (forward and back)", steps.Load())
	}
}
