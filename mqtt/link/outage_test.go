package link_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestEventsAcrossBrokerRestart: the broker goes away while events are in
// flight and more are produced; after it returns every event reaches the
// cloud, exactly once after de-duplication by id, first seen in seq order,
// and each is removed from the outbox only after the broker acknowledged it.
func TestEventsAcrossBrokerRestart(t *testing.T) {
	f := fixture.New(t, fixture.Options{Persistence: true})
	now := time.Now()
	produced := 0
	produce := func(n int) {
		for range n {
			produced++
			typ := protocol.EvDeposited
			if produced%2 == 0 {
				typ = protocol.EvPickedUp
			}
			body := &protocol.ParcelEvent{Parcel: fmt.Sprintf("p-%d", (produced+1)/2), Compartment: uint16(produced%40 + 1)}
			if _, err := f.Outbox.Add(typ, now, body); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx := testenv.Context(t, 90*time.Second)
	var lastSeq uint64
	receive := func(upTo int) {
		t.Helper()
		for lastSeq < uint64(upTo) {
			ev, err := f.Cloud.NextEvent(ctx)
			if err != nil {
				t.Fatalf("after seq %d: %v", lastSeq, err)
			}
			if ev.Seq != lastSeq+1 {
				t.Fatalf("got seq %d after %d: order broken or event lost", ev.Seq, lastSeq)
			}
			if want := fmt.Sprintf("ev-%d", ev.Seq); ev.ID != want {
				t.Fatalf("seq %d has id %s", ev.Seq, ev.ID)
			}
			lastSeq = ev.Seq
		}
	}

	produce(200)
	receive(50) // the broker dies with the rest of the batch in flight
	f.Broker.Stop()
	produce(150) // the locker keeps serving while offline
	f.Broker.Restart()
	produce(150)
	receive(500)

	testenv.Eventually(t, 30*time.Second, "outbox never drained", func() bool { return f.Outbox.Len() == 0 })
	acked := f.Outbox.Acked()
	if len(acked) != 500 || !slices.IsSorted(acked) {
		t.Fatalf("acks: %d, sorted=%v", len(acked), slices.IsSorted(acked))
	}
	st := f.Cloud.EventStats()
	if st.Gaps != 0 || st.OutOfOrder != 0 || st.Invalid != 0 || st.Dropped != 0 {
		t.Fatalf("event stats %+v", st)
	}
	// Duplicates come from re-sends; reordering from the broker, which may
	// deliver a new message to a persistent session ahead of restored ones.
	t.Logf("after the outage: %d duplicates removed by id, %d events held back to restore seq order", st.Duplicates, st.Reordered)
	// The link renewed its subscription after reconnecting.
	if r := f.Send(t, &protocol.PingBody{}); r.Status != protocol.StatusDone {
		t.Fatalf("command after restart: %+v", r)
	}
}

// TestLastWillAndReconnect: when the network drops (no DISCONNECT), the
// broker publishes the retained Last Will "offline/lost"; the link notices,
// reconnects, renews its subscription and says "online" again with the same
// boot id (a reconnect, not a restart).
func TestLastWillAndReconnect(t *testing.T) {
	f := fixture.New(t, fixture.Options{NoLink: true})
	proxy := fixture.NewProxy(t, fmt.Sprintf("127.0.0.1:%d", f.Broker.Port()))
	presences := f.Presences(t)
	f.StartLink(t, func(c *link.Config) { c.Broker = proxy.URL(); c.Boot = "boot-will" })
	if p := fixture.Next(t, presences); p.State != protocol.Online {
		t.Fatalf("first presence %+v", p)
	}
	proxy.Cut()
	steps := []struct {
		name   string
		state  protocol.PresenceState
		reason string
	}{
		{name: "last will", state: protocol.Offline, reason: protocol.PresenceLost},
		{name: "birth after reconnect", state: protocol.Online},
	}
	for _, s := range steps {
		p := fixture.Next(t, presences)
		if p.State != s.state || p.Reason != s.reason || p.Boot != "boot-will" || p.Version != "test-1.0" {
			t.Fatalf("%s: got %+v", s.name, p)
		}
	}
	if r := f.Send(t, &protocol.PingBody{}); r.Status != protocol.StatusDone {
		t.Fatalf("command after reconnect: %+v", r)
	}
}

// TestLateLastWillIsAnswered: a Last Will that a broker publishes after the locker
// has reconnected (a cluster node that died with the old connection and came back)
// overwrites the retained "online". The link sees it on its own status topic and
// publishes its birth again, so the retained presence, and the fleet side, end
// "online" while it serves.
func TestLateLastWillIsAnswered(t *testing.T) {
	f := fixture.New(t, fixture.Options{NoLink: true})
	presences := f.Presences(t)
	f.StartLink(t, func(c *link.Config) { c.Boot = "boot-late" })
	if p := fixture.Next(t, presences); p.State != protocol.Online {
		t.Fatalf("first presence %+v", p)
	}
	// The stale will, as the broker would publish it: retained, QoS 1, on the
	// locker's status topic (the locker's own account may write it).
	will, err := protocol.EncodePresence(&protocol.Presence{State: protocol.Offline, Boot: "boot-late",
		Version: "test-1.0", Reason: protocol.PresenceLost})
	if err != nil {
		t.Fatal(err)
	}
	raw := f.Raw(t, fixture.Locker, nil)
	fixture.Publish(t, raw, f.Topics.Status(fixture.Locker), will)
	if p := fixture.Next(t, presences); p.State != protocol.Offline || p.Reason != protocol.PresenceLost {
		t.Fatalf("the late will: got %+v", p)
	}
	if p := fixture.Next(t, presences); p.State != protocol.Online || p.Boot != "boot-late" {
		t.Fatalf("after the late will: got %+v, want the birth again", p)
	}
	ctx := testenv.Context(t, 10*time.Second)
	if _, err := f.Cloud.AwaitPresence(ctx, fixture.Locker, func(p protocol.Presence) bool { return p.State == protocol.Online }); err != nil {
		t.Fatalf("the fleet side does not see the locker online: %v", err)
	}
}
