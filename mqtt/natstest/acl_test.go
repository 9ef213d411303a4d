package natstest_test

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/natstest"
)

func connect(t *testing.T, url, user, pass string) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(user + "-acl").SetUsername(user).SetPassword(pass).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(30 * time.Second)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(45*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect: %v", user, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// TestClusterACLs: the NATS permissions natstest writes (docs/fleet.md's mapping of
// the per-locker ACLs) let a locker use its own topics only: it cannot subscribe to
// another locker's commands, and what it publishes on another locker's topics never
// reaches the fleet side, while its own events do.
func TestClusterACLs(t *testing.T) {
	cluster := natstest.Start(t, natstest.Options{Prefix: "lockers", Users: []natstest.User{
		{Name: "cloud", Password: "cp", Cloud: true}, {Name: "L-1", Password: "p1"}, {Name: "L-2", Password: "p2"}}})
	urls := cluster.URLs()
	cloud := connect(t, urls[0], "cloud", "cp")
	got := make(chan string, 16)
	if tok := cloud.Subscribe("lockers/+/evt", 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() + " " + string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	l1 := connect(t, urls[1], "L-1", "p1")
	tok := l1.Subscribe("lockers/L-2/cmd", 1, nil)
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("no SUBACK")
	}
	if codes := tok.(*paho.SubscribeToken).Result(); codes["lockers/L-2/cmd"] != 0x80 {
		t.Errorf("L-1 subscribing to L-2's commands: SUBACK %#x, want 0x80 (refused)", codes["lockers/L-2/cmd"])
	}
	for _, m := range []struct{ topic, body string }{{"lockers/L-2/evt", "forged"}, {"lockers/L-1/evt", "genuine"}} {
		l1.Publish(m.topic, 1, false, m.body).WaitTimeout(10 * time.Second)
	}
	select {
	case m := <-got:
		if m != "lockers/L-1/evt genuine" {
			t.Fatalf("fleet side got %q", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("L-1's own event never arrived")
	}
	select {
	case m := <-got:
		t.Fatalf("fleet side got %q as well", m)
	case <-time.After(2 * time.Second):
	}
}
