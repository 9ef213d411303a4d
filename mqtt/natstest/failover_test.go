package natstest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/linktest"
	"github.com/lockerd/lockerd/mqtt/natstest"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

var fleetKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, ed25519.SeedSize))

func eventKey(id string) []byte { return append(bytes.Repeat([]byte{9}, 31), byte(len(id))) }

func logger() *slog.Logger {
	if os.Getenv("MQTT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// locker is one simulated locker: a real mqtt/link with linktest's in-memory command
// log, outbox and handler (the handler's record is the truth of what ran).
type locker struct {
	id      string
	handler *linktest.Handler
	outbox  *linktest.Outbox
}

// TestClusterFailover: lockers spread over a three-node NATS cluster (MQTT and
// JetStream, sessions and QoS 1 replicated on all three) keep producing events while
// one node — the leader of the stream that holds QoS 1 messages for subscribers — is
// killed with SIGKILL and brought back. Every locker reconnects through
// the other nodes (link.Config.Brokers); every event reaches the fleet side exactly
// once after de-duplication, in seq order with no gap; every command sent during the
// failover is answered, and none runs twice on a locker.
func TestClusterFailover(t *testing.T) {
	const lockers = 12
	prefix := "lockers"
	topics := protocol.MustTopics(prefix)
	users := []natstest.User{{Name: "cloud", Password: "cloud-pass", Cloud: true}}
	for i := range lockers {
		users = append(users, natstest.User{Name: fmt.Sprintf("L-%02d", i), Password: "locker-pass"})
	}
	cluster := natstest.Start(t, natstest.Options{Prefix: prefix, Users: users})
	urls := cluster.URLs()
	ctx := testenv.Context(t, 4*time.Minute)

	// The fleet side on node 1, able to move to the others.
	cloud, err := fleet.Dial(ctx, fleet.Config{Broker: urls[0], Brokers: urls[1:], ClientID: "cloud-1",
		Username: "cloud", Password: "cloud-pass", Topics: topics, SigningKey: fleetKey, Persistent: true,
		Timeout: 5 * time.Second, ResendAfter: 3 * time.Second, ReorderWindow: 2 * time.Minute, Logger: logger(),
		EventKey: eventKey})
	if err != nil {
		t.Fatalf("fleet: %v\n%s", err, cluster.Nodes[0].Log())
	}
	defer cloud.Close()

	var ls []*locker
	for i := range lockers {
		l := &locker{id: fmt.Sprintf("L-%02d", i), handler: &linktest.Handler{}, outbox: linktest.NewOutbox("ev")}
		// Each locker starts on its own node and knows the other two.
		first := i % 3
		var others []string
		for j := range urls {
			if j != first {
				others = append(others, urls[j])
			}
		}
		lk, err := link.New(link.Config{Broker: urls[first], Brokers: others, LockerID: l.id, Topics: topics,
			Password: "locker-pass", FleetKeys: []ed25519.PublicKey{fleetKey.Public().(ed25519.PublicKey)},
			EventKey: eventKey(l.id), Boot: "boot-1", Version: "test-1.0",
			Handler: l.handler, Commands: linktest.NewCommandLog(), Outbox: l.outbox,
			Timeout: 3 * time.Second, MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second,
			KeepAlive: 3 * time.Second, Logger: logger()})
		if err != nil {
			t.Fatal(err)
		}
		linktest.Start(t, lk)
		ls = append(ls, l)
	}
	for _, l := range ls {
		if _, err := cloud.AwaitPresence(ctx, l.id, func(p protocol.Presence) bool { return p.State == protocol.Online }); err != nil {
			t.Fatalf("%s never online: %v", l.id, err)
		}
	}

	// Traffic: every locker adds an event every 20 ms until stopped.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := l.outbox.Add(protocol.EvDeposited, time.Now(), &protocol.ParcelEvent{Parcel: fmt.Sprintf("p-%d", n), Compartment: uint16(n%40 + 1)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Commands: one ping to every locker before, during and after the failover.
	pingAll := func(when string) {
		var pw sync.WaitGroup
		for _, l := range ls {
			pw.Add(1)
			go func() {
				defer pw.Done()
				cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
				defer cancel()
				r, err := cloud.Do(cctx, l.id, &protocol.PingBody{})
				if err != nil || r.Status != protocol.StatusDone {
					t.Errorf("%s: ping %s the failover: %+v %v", l.id, when, r, err)
				}
			}()
		}
		pw.Wait()
	}
	time.Sleep(time.Second)
	pingAll("before")
	// The node that dies is the one leading the stream of QoS 1 messages held for
	// subscribers (commands for lockers, events for the fleet side): the worst one.
	victim := cluster.StreamLeader(natstest.StreamMessages)
	if victim == nil {
		t.Fatalf("no node leads %s", natstest.StreamMessages)
	}
	cluster.Kill(victim)
	t.Logf("killed %s with %d lockers on it", victim.Name, lockers/3)
	pingAll("during")
	time.Sleep(2 * time.Second)
	cluster.Restart(victim)
	pingAll("after")
	close(stop)
	wg.Wait()

	// Every event, once, in order: the fleet side de-duplicates by id and holds
	// back out-of-order ones until their gap fills.
	want := map[string]uint64{}
	total := 0
	for _, l := range ls {
		testenv.Eventually(t, 2*time.Minute, l.id+"'s outbox never drained", func() bool { return l.outbox.Len() == 0 })
		acked := l.outbox.Acked()
		want[l.id] = uint64(len(acked))
		total += len(acked)
	}
	got := map[string]uint64{}
	for n := 0; n < total; n++ {
		ev, err := cloud.NextEvent(ctx)
		if err != nil {
			t.Fatalf("after %d of %d events: %v (stats %+v)", n, total, err, cloud.EventStats())
		}
		if ev.Seq != got[ev.LockerID]+1 {
			t.Fatalf("%s: seq %d after %d", ev.LockerID, ev.Seq, got[ev.LockerID])
		}
		got[ev.LockerID] = ev.Seq
	}
	for id, n := range want {
		if got[id] != n {
			t.Errorf("%s: fleet side has %d events, the locker sent %d", id, got[id], n)
		}
	}
	st := cloud.EventStats()
	if st.Gaps != 0 || st.OutOfOrder != 0 || st.Invalid != 0 || st.Dropped != 0 || st.Unauthenticated != 0 {
		t.Errorf("event stats %+v", st)
	}
	// No command ran twice: each ping id once in each handler.
	for _, l := range ls {
		seen := map[string]int{}
		for _, c := range l.handler.Seen() {
			seen[c.Jti]++
			if seen[c.Jti] > 1 {
				t.Errorf("%s ran command %s twice", l.id, c.Jti)
			}
		}
		if len(seen) != 3 {
			t.Errorf("%s ran %d commands, want the 3 pings", l.id, len(seen))
		}
	}
	t.Logf("%d events from %d lockers across the failover: %d duplicates removed by id, %d held back to restore order",
		total, lockers, st.Duplicates, st.Reordered)
}
