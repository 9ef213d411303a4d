package sim

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/mqtttest"
)

// TestScenarioOverMQTT is `make run`: the simulated cloud enrols the station, gives it
// a courier and announces parcels over the embedded broker, and receives its events.
func TestScenarioOverMQTT(t *testing.T) {
	cloud, err := NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	side, err := StartFleetSide(ctx, cloud, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer side.Close()
	dir := t.TempDir()
	mq, err := side.Broker.AddLocker("SIM-M", dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewStation(StationOptions{LockerID: "SIM-M", Dir: dir, Cloud: cloud, MQTT: mq,
		Person: lockboardtest.OpenThenClose(30*time.Millisecond, 250*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if out := play(t, Scenario{Station: st, Cloud: cloud, Fleet: side.Client}); !strings.Contains(out, "enrolled locker SIM-M over MQTT") {
		t.Errorf("not provisioned over MQTT:\n%s", out)
	}
	var printed testenv.SyncBuffer
	pctx, pcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- PrintEvents(pctx, &printed, side.Client) }()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(printed.String(), "picked_up") < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	pcancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Count(printed.String(), "picked_up") != 3 || !strings.Contains(printed.String(), "SIM-M #1 health") {
		t.Fatalf("events the cloud received:\n%s", printed.String())
	}
}

// TestBrokerACL checks that the embedded broker holds each locker to its own topics, as
// docs/protocol.md asks of any broker, and refuses wrong passwords.
func TestBrokerACL(t *testing.T) {
	b, err := StartBroker(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dir := t.TempDir()
	if _, err := b.AddLocker("L1", dir+"/l1"); err != nil {
		t.Fatal(err)
	}
	pw := func(user string) string {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.passwords[user]
	}
	connect := func(user, password string) (paho.Client, error) {
		c, err := mqtttest.Connect(t, b.URL(), user, password, nil)
		if err != nil {
			return nil, fmt.Errorf("connect as %s: %v", user, err)
		}
		return c, nil
	}
	if _, err := connect("L1", "wrong"); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if _, err := connect("L9", "anything"); err == nil {
		t.Fatal("an unknown account was accepted")
	}
	cloud, err := connect(CloudUser, b.CloudPassword())
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 16)
	if tok := cloud.Subscribe("lockers/#", 1, func(_ paho.Client, m paho.Message) { seen <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	l1, err := connect("L1", pw("L1"))
	if err != nil {
		t.Fatal(err)
	}
	subs := []struct {
		name   string
		filter string
		ok     bool
	}{
		{"own commands", "lockers/L1/cmd", true},
		{"another locker's commands", "lockers/L2/cmd", false},
		{"everything", "lockers/#", false},
		{"own events", "lockers/L1/evt", false},
	}
	for _, tc := range subs {
		t.Run("subscribe "+tc.name, func(t *testing.T) {
			tok := l1.Subscribe(tc.filter, 1, func(paho.Client, paho.Message) {})
			if !tok.WaitTimeout(5 * time.Second) {
				t.Fatal("no SUBACK")
			}
			granted := tok.(*paho.SubscribeToken).Result()[tc.filter] <= 2
			if granted != tc.ok {
				t.Fatalf("granted %v, want %v", granted, tc.ok)
			}
		})
	}
	// A forbidden QoS 1 publish costs an MQTT 3.1.1 client its connection (there is no
	// negative PUBACK before MQTT 5) and reaches nobody.
	pubs := []struct {
		name  string
		topic string
		ok    bool
	}{
		{"another locker's events", "lockers/L2/evt", false},
		{"own command topic", "lockers/L1/cmd", false},
		{"another locker's status", "lockers/L2/status", false},
		{"own events", "lockers/L1/evt", true},
		{"own replies", "lockers/L1/reply", true},
		{"own status", "lockers/L1/status", true},
	}
	for _, tc := range pubs {
		t.Run("publish "+tc.name, func(t *testing.T) {
			c, err := connect("L1", pw("L1"))
			if err != nil {
				t.Fatal(err)
			}
			tok := c.Publish(tc.topic, 1, false, []byte("{}"))
			if !tok.WaitTimeout(5 * time.Second) {
				t.Fatal("publish neither acknowledged nor failed")
			}
			if acked := tok.Error() == nil; acked != tc.ok {
				t.Fatalf("acknowledged %v, want %v", acked, tc.ok)
			}
			want := tc.topic
			if !tc.ok {
				// Messages are routed in order: once a later allowed publish reaches
				// the cloud, the forbidden one would have reached it before.
				want = "lockers/L1/evt"
				probe, err := connect("L1", pw("L1"))
				if err != nil {
					t.Fatal(err)
				}
				if tok := probe.Publish(want, 1, false, []byte("{}")); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
					t.Fatal(tok.Error())
				}
			}
			select {
			case got := <-seen:
				if got != want {
					t.Fatalf("cloud received %s first, want %s", got, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("cloud never received %s", want)
			}
		})
	}
}
