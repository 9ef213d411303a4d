package link

import (
	"net"
	"net/url"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestBrokerSet: a broker that failed is skipped while another has not failed lately,
// tried again after skipFor or once every broker has failed, and cleared by a
// successful connection; a dropped connection counts against the broker it was to.
func TestBrokerSet(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	b := newBrokerSet([]string{"tcp://a:1883", "ssl://b:8883", "tcp://c:1883"}, time.Minute)
	b.now = func() time.Time { return now }
	a, bb, c := "tcp://a:1883", "ssl://b:8883", "tcp://c:1883"
	if !b.allow(a) || !b.allow(bb) || !b.allow(c) {
		t.Fatal("a fresh set skips a broker")
	}
	b.fail(a)
	if b.allow(a) || !b.allow(bb) {
		t.Fatal("a failed broker is not skipped while others are untried")
	}
	b.dial(bb)
	b.connected()
	if b.current() != bb {
		t.Fatalf("current %q", b.current())
	}
	b.lost() // b drops the link: the next connect starts with c
	if b.allow(a) || b.allow(bb) || !b.allow(c) {
		t.Fatal("after b dropped the link, only c should be tried")
	}
	b.fail(c)
	if !b.allow(a) || !b.allow(bb) || !b.allow(c) {
		t.Fatal("with every broker failed lately, all must be tried again")
	}
	now = now.Add(30 * time.Second)
	b.dial(c)
	b.connected()
	if b.allow(a) || !b.allow(c) {
		t.Fatal("c connected: a (failed 30 s ago) is skipped again, c is not")
	}
	now = now.Add(31 * time.Second)
	if !b.allow(a) {
		t.Fatal("a is still skipped after skipFor")
	}
}

// TestDialSkipsAFailedBroker: dial refuses, without dialling, a broker that just
// refused, while another is untried.
func TestDialSkipsAFailedBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "tcp://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	live, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	cfg := Config{Broker: dead, Brokers: []string{"tcp://" + live.Addr().String()}, Timeout: time.Second, MaxPacketSize: 1 << 20}
	l := &Link{cfg: cfg, brokers: newBrokerSet(cfg.urls(), time.Minute)}
	deadURL, liveURL := mustURL(t, dead), mustURL(t, cfg.Brokers[0])
	if _, err := l.dial(deadURL, paho.ClientOptions{}); err == nil || err == errSkipped {
		t.Fatalf("first dial of a dead broker: %v, want a connection error", err)
	}
	if _, err := l.dial(deadURL, paho.ClientOptions{}); err != errSkipped {
		t.Fatalf("second dial of a dead broker: %v, want it skipped", err)
	}
	conn, err := l.dial(liveURL, paho.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if l.brokers.current() != brokerKey(liveURL) {
		t.Fatalf("current %q", l.brokers.current())
	}
}
