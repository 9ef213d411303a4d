package fleetsim_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/sim"
	"github.com/lockerd/lockerd/sim/fleetsim"
)

// eventKeys gives the fleet side each enrolled locker's event key, so that every
// event is verified (docs/protocol.md §5.3).
func eventKeys(c *sim.Cloud) func(string) []byte {
	return func(id string) []byte {
		k, err := c.Keys(id)
		if err != nil {
			return nil
		}
		return k.EventKey()
	}
}

// TestFleetDay: a day of traffic over a small fleet on the simulator's embedded broker
// — every parcel announced, deposited and picked up, a share of the lockers offline
// for a while, every event at the fleet side once and in order.
func TestFleetDay(t *testing.T) {
	const lockers = 8
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cloud, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	broker, err := sim.StartBroker(quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client, err := cloud.Connect(ctx, fleet.Config{Broker: broker.URL(), ClientID: "fleetsim-cloud", Username: sim.CloudUser,
		Password: broker.CloudPassword(), Logger: quiet, ResendAfter: 5 * time.Second, EventKey: eventKeys(cloud)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	f, err := fleetsim.New(fleetsim.Options{Lockers: lockers, Doors: 4, Dir: t.TempDir(), Cloud: cloud,
		Account: func(id, dir string) (config.MQTT, error) { return broker.AddLocker(id, dir) }})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := &fleetsim.Traffic{Fleet: f, Cloud: cloud, Client: client, Day: 30 * time.Second, Parcels: 3, Offline: 0.5,
		Seed: 7, Log: quiet}
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := tr.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *rep)
	for _, p := range rep.Problems {
		t.Error(p)
	}
	if rep.Announced != lockers*3 || rep.Deposited != rep.Announced || rep.PickedUp != rep.Announced {
		t.Errorf("announced %d, deposited %d, picked up %d", rep.Announced, rep.Deposited, rep.PickedUp)
	}
	for id, c := range rep.PerLocker {
		if c.Pulses != c.Deposited+c.PickedUp+c.Opened {
			t.Errorf("%s: %d relay pulses for %d deposits, %d pickups and %d remote openings", id, c.Pulses, c.Deposited, c.PickedUp, c.Opened)
		}
	}
	if rep.Offline == 0 {
		t.Error("no locker went offline: the day tested no outage")
	}
	if rep.Events < rep.Announced*4 { // announced, deposited, picked_up and door events at least
		t.Errorf("only %d events", rep.Events)
	}
}
