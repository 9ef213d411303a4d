package fleetsim_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/natstest"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
	"github.com/lockerd/lockerd/sim/fleetsim"
)

// clusterLockers is how many lockers TestFleetClusterFailover spreads over the three nodes
// (LOCKERD_CLUSTER_LOCKERS to change it).
func clusterLockers(t *testing.T) int {
	if s := os.Getenv("LOCKERD_CLUSTER_LOCKERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 3 {
			t.Fatalf("LOCKERD_CLUSTER_LOCKERS=%q: want a number of at least 3", s)
		}
		return n
	}
	return 100
}

// TestFleetClusterFailover: a fleet of real lockerd stations spread over a three-node
// NATS cluster (docs/fleet.md) lives through a day of traffic while the node leading
// the stream of QoS 1 messages is killed with SIGKILL and brought back. Every locker
// reconnects; every event reaches the fleet side once and in order; an operator's
// remote opening sent to every locker during the failover is answered; and each
// locker's virtual cabinet pulsed its relays exactly once per deposit, pickup and
// opening — no command ran twice.
func TestFleetClusterFailover(t *testing.T) {
	n := clusterLockers(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	users := []natstest.User{{Name: "cloud", Password: "cloud-pass", Cloud: true}}
	for i := range n {
		id := fmt.Sprintf("L-%04d", i+1)
		users = append(users, natstest.User{Name: id, Password: "pw-" + id})
	}
	cluster := natstest.Start(t, natstest.Options{Prefix: config.DefaultTopicPrefix, Users: users})
	urls := cluster.URLs()
	cloud, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	client, err := cloud.Connect(ctx, fleet.Config{Broker: urls[0], Brokers: urls[1:], ClientID: "fleet-cluster",
		Username: "cloud", Password: "cloud-pass", Persistent: true, Logger: quiet, Timeout: 10 * time.Second,
		ResendAfter: 5 * time.Second, ReorderWindow: 5 * time.Minute, EventKey: eventKeys(cloud)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	next := 0
	f, err := fleetsim.New(fleetsim.Options{Lockers: n, Doors: 4, Dir: t.TempDir(), Cloud: cloud,
		Account: func(id, dir string) (config.MQTT, error) {
			first := next % 3
			next++
			var others []string
			for j, u := range urls {
				if j != first {
					others = append(others, u)
				}
			}
			pw := filepath.Join(dir, "mqtt-password")
			if err := os.WriteFile(pw, []byte("pw-"+id+"\n"), 0o600); err != nil {
				return config.MQTT{}, err
			}
			return config.MQTT{Broker: urls[first], Brokers: others, PasswordFile: pw, ReconnectMax: 2 * time.Second}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const day = 90 * time.Second
	tr := &fleetsim.Traffic{Fleet: f, Cloud: cloud, Client: client, Day: day, Parcels: 2, Offline: 0.05, Seed: 11, Log: quiet}
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range f.Lockers {
		if _, err := client.AwaitPresence(ctx, l.ID, func(p protocol.Presence) bool { return p.State == protocol.Online }); err != nil {
			t.Fatalf("%s never online: %v", l.ID, err)
		}
	}

	var rep *fleetsim.Report
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		rep, runErr = tr.Run(ctx)
	}()
	// A third into the day the worst node dies; during the failover an operator
	// opens a door at every locker; the node comes back at two thirds.
	time.Sleep(day / 3)
	victim := cluster.StreamLeader(natstest.StreamMessages)
	if victim == nil {
		t.Fatalf("no node leads %s", natstest.StreamMessages)
	}
	cluster.Kill(victim)
	t.Logf("killed %s, the leader of %s", victim.Name, natstest.StreamMessages)
	var wg sync.WaitGroup
	var unanswered sync.Map
	for _, l := range f.Lockers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if _, err := tr.RemoteOpen(octx, l, 4); err != nil {
				unanswered.Store(l.ID, err)
			}
		}()
	}
	wg.Wait()
	cluster.Restart(victim)
	<-done
	if runErr != nil {
		t.Fatal(runErr)
	}
	unanswered.Range(func(k, v any) bool {
		t.Errorf("%s: the remote opening sent during the failover: %v", k, v)
		return true
	})
	for _, p := range rep.Problems {
		t.Error(p)
	}
	opened := 0
	for id, c := range rep.PerLocker {
		opened += c.Opened
		if c.Pulses != c.Deposited+c.PickedUp+c.Opened {
			t.Errorf("%s: %d relay pulses for %d deposits, %d pickups and %d remote openings", id, c.Pulses, c.Deposited, c.PickedUp, c.Opened)
		}
	}
	if rep.Deposited != rep.Announced || rep.PickedUp != rep.Announced {
		t.Errorf("announced %d, deposited %d, picked up %d", rep.Announced, rep.Deposited, rep.PickedUp)
	}
	for _, l := range f.Lockers {
		if _, err := client.AwaitPresence(ctx, l.ID, func(p protocol.Presence) bool { return p.State == protocol.Online }); err != nil {
			t.Errorf("%s not online after the failover: %v", l.ID, err)
		}
	}
	t.Logf("%d lockers, %d parcels deposited and picked up, %d doors opened remotely during the failover, %d lockers offline for a while; "+
		"%d events at the fleet side (%d duplicates dropped, %d held back for order)",
		rep.Lockers, rep.Deposited, opened, rep.Offline, rep.Events, rep.Stats.Duplicates, rep.Stats.Reordered)
}
