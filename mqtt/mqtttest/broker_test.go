package mqtttest

import (
	"crypto/tls"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// collector subscribes and records topics in arrival order.
type collector struct {
	got chan string
}

func subscribe(t *testing.T, c paho.Client, filter string) *collector {
	t.Helper()
	col := &collector{got: make(chan string, 100)}
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		select {
		case col.got <- m.Topic():
		default:
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return col
}

// next returns the next topic received, failing after a timeout.
func (c *collector) next(t *testing.T) string {
	t.Helper()
	select {
	case topic := <-c.got:
		return topic
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return ""
	}
}

func publish(t *testing.T, c paho.Client, topic string) {
	t.Helper()
	tok := c.Publish(topic, 1, false, "x")
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func users() []User {
	return []User{{Name: "L-A", Password: "pa"}, {Name: "L-B", Password: "pb"}, {Name: "cloud", Password: "pc", Cloud: true}}
}

// TestACLIsolation checks that a locker can neither write nor read another
// locker's topics, nor forge commands. Absence is proven without sleeping:
// after each forbidden message the same sender sends an allowed one, and
// since the broker keeps one sender's order, the allowed one arriving first
// means the forbidden one was dropped.
func TestACLIsolation(t *testing.T) {
	b := Start(t, Options{Users: users()})
	cloud := MustConnect(t, b.URL(), "cloud", "pc", nil)
	a := MustConnect(t, b.URL(), "L-A", "pa", nil)

	writes := []struct {
		name    string
		topic   string
		allowed bool
	}{
		{name: "own event", topic: "lockers/L-A/evt", allowed: true},
		{name: "own reply", topic: "lockers/L-A/reply", allowed: true},
		{name: "own status", topic: "lockers/L-A/status", allowed: true},
		{name: "other's event", topic: "lockers/L-B/evt"},
		{name: "other's reply", topic: "lockers/L-B/reply"},
		{name: "other's status", topic: "lockers/L-B/status"},
		{name: "own command", topic: "lockers/L-A/cmd"},
		{name: "other's command", topic: "lockers/L-B/cmd"},
		{name: "outside the prefix", topic: "elsewhere/x"},
	}
	seen := subscribe(t, cloud, "lockers/#")
	for _, tc := range writes {
		t.Run("write "+tc.name, func(t *testing.T) {
			publish(t, a, tc.topic)
			publish(t, a, "lockers/L-A/evt") // the barrier
			first := seen.next(t)
			if tc.allowed {
				if first != tc.topic {
					t.Fatalf("allowed publish to %s not delivered; got %s", tc.topic, first)
				}
				if second := seen.next(t); second != "lockers/L-A/evt" {
					t.Fatalf("barrier: got %s", second)
				}
				return
			}
			if first != "lockers/L-A/evt" {
				t.Fatalf("forbidden publish to %s was delivered", tc.topic)
			}
		})
	}

	aSeen := subscribe(t, a, "lockers/#")
	reads := []struct {
		name    string
		topic   string
		allowed bool
	}{
		{name: "own command", topic: "lockers/L-A/cmd", allowed: true},
		{name: "other's command", topic: "lockers/L-B/cmd"},
		{name: "other's event", topic: "lockers/L-B/evt"},
		{name: "other's reply", topic: "lockers/L-B/reply"},
		{name: "other's status", topic: "lockers/L-B/status"},
	}
	for _, tc := range reads {
		t.Run("read "+tc.name, func(t *testing.T) {
			publish(t, cloud, tc.topic)
			publish(t, cloud, "lockers/L-A/cmd") // the barrier
			first := aSeen.next(t)
			if tc.allowed {
				if first != tc.topic || aSeen.next(t) != "lockers/L-A/cmd" {
					t.Fatalf("allowed read of %s failed; got %s", tc.topic, first)
				}
				return
			}
			if first != "lockers/L-A/cmd" {
				t.Fatalf("locker L-A read %s", first)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	b := Start(t, Options{Users: users()})
	foreign := Start(t, Options{Users: users()}) // another CA
	tests := []struct {
		name string
		url  string
		user string
		pass string
		tls  *tls.Config
		ok   bool
	}{
		{name: "plain with password", url: b.URL(), user: "L-A", pass: "pa", ok: true},
		{name: "wrong password", url: b.URL(), user: "L-A", pass: "pb"},
		{name: "unknown user", url: b.URL(), user: "L-Z", pass: "pz"},
		{name: "anonymous", url: b.URL()},
		{name: "TLS with client certificate", url: b.TLSURL(), user: "ignored", tls: b.ClientTLS("L-A"), ok: true},
		{name: "TLS without client certificate", url: b.TLSURL(), user: "L-A", pass: "pa", tls: b.ServerOnlyTLS()},
		{name: "TLS with a certificate from another CA", url: b.TLSURL(), user: "L-A", tls: withRoots(foreign.ClientTLS("L-A"), b)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Connect(t, tc.url, tc.user, tc.pass, tc.tls)
			if (err == nil) != tc.ok {
				t.Fatalf("connect: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestTLSIdentityIsUserName: over TLS the certificate CN is the user name,
// so the per-locker ACLs hold there too.
func TestTLSIdentityIsUserName(t *testing.T) {
	b := Start(t, Options{Users: users(), CloudCNs: []string{"cloud-tls"}})
	cloud := MustConnect(t, b.TLSURL(), "", "", b.ClientTLS("cloud-tls"))
	seen := subscribe(t, cloud, "lockers/#")
	a := MustConnect(t, b.TLSURL(), "", "", b.ClientTLS("L-A"))
	publish(t, a, "lockers/L-B/evt")
	publish(t, a, "lockers/L-A/evt")
	if got := seen.next(t); got != "lockers/L-A/evt" {
		t.Fatalf("got %s first: the TLS identity escaped its ACL", got)
	}
}

func TestStopRestart(t *testing.T) {
	b := Start(t, Options{Users: users()})
	MustConnect(t, b.URL(), "L-A", "pa", nil)
	b.Stop()
	if _, err := Connect(t, b.URL(), "L-A", "pa", nil); err == nil {
		t.Fatal("connected to a stopped broker")
	}
	b.Restart()
	MustConnect(t, b.URL(), "L-A", "pa", nil)
	b.Kill()
	b.Restart()
	MustConnect(t, b.TLSURL(), "", "", b.ClientTLS("L-B"))
}

func withRoots(c *tls.Config, b *Broker) *tls.Config {
	c.RootCAs = b.ServerOnlyTLS().RootCAs
	return c
}

// TestPersistenceKeepsSessions: with persistence, a message queued for an
// absent persistent subscriber survives a clean broker restart.
func TestPersistenceKeepsSessions(t *testing.T) {
	b := Start(t, Options{Users: users(), Persistence: true})
	sub := func() (paho.Client, *collector) {
		col := &collector{got: make(chan string, 10)}
		c := MustConnect(t, b.URL(), "cloud", "pc", nil, func(o *paho.ClientOptions) {
			o.SetClientID("persistent-cloud").SetCleanSession(false).
				SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { col.got <- m.Topic() })
		})
		return c, col
	}
	c, _ := sub()
	if tok := c.Subscribe("lockers/+/evt", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c.Disconnect(100)
	publish(t, MustConnect(t, b.URL(), "L-A", "pa", nil), "lockers/L-A/evt")
	b.Restart()
	c, col := sub()
	defer c.Disconnect(0)
	if got := col.next(t); got != "lockers/L-A/evt" {
		t.Fatalf("got %s", got)
	}
}
