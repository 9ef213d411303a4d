package link

import (
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/lockerd/lockerd/mqtt/mqtttest"
)

// resumeHook wraps the message store the link gives paho and, once armed, runs a
// function when paho's resume() lists the stored packets after a reconnect (the
// only All() made while the connection is open). That is the moment of upstream
// issue 703: the connection is up, so a new publish goes straight to the writer,
// and resume is about to mark every stored publish as a duplicate.
type resumeHook struct {
	paho.Store
	client paho.Client

	mu    sync.Mutex
	armed func()
}

func (h *resumeHook) All() []string {
	h.mu.Lock()
	f := h.armed
	if f != nil && h.client.IsConnectionOpen() {
		h.armed = nil
	} else {
		f = nil
	}
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.Store.All()
}

func (h *resumeHook) arm(f func()) {
	h.mu.Lock()
	h.armed = f
	h.mu.Unlock()
}

// watchConn is the client's side of a connection that tells the test when paho's
// writer has taken a publish off its queue: the writer sets the write deadline just
// before it packs the packet. The signal adds no ordering after that point, so what
// the writer does next is as unordered with the rest of paho as it is in production.
type watchConn struct {
	net.Conn
	writing chan<- struct{}
}

func (c *watchConn) SetWriteDeadline(t time.Time) error {
	if !t.IsZero() {
		select {
		case c.writing <- struct{}{}:
		default:
		}
	}
	return c.Conn.SetWriteDeadline(t)
}

// TestResumeWhileWriterSends makes paho's resume() run, after a reconnect, over
// stored outbound publishes while its writer is sending one of them: an event left
// unacknowledged by the connection that dropped (m1), and an event published once the
// new connection is up (m2), which paho stores and hands to the writer at the same
// time. Resume marks both DUP. With a store that hands paho back the packet it stored
// (paho's own stores), resume's write of m2's DUP flag and the writer's packing of m2
// are the same memory with nothing ordering them, and `go test -race` reports it on
// every run (upstream issue 703). The link's store (pahostore) keeps and returns
// copies, so they never are (docs/adr/0033-paho-store-copies-and-packet-limit.md).
//
// Nothing is left to chance: the scripted broker holds back every PUBACK (one would take
// m2 out of the store), and the hook lets resume read the store only once the writer
// has taken m2 and is about to pack it. The hook must not wait for the broker to
// receive m2: the race detector orders every socket write before every later socket
// read in the process, so that wait would order the writer before resume and hide
// the race.
func TestResumeWhileWriterSends(t *testing.T) {
	fb := mqtttest.NewScripted(t)
	l := &Link{
		cfg: Config{Broker: fb.URL(), ClientID: "L1", Username: "L1", Timeout: 5 * time.Second,
			KeepAlive: time.Minute, MaxPacketSize: 1 << 16},
		log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		lost:        make(chan error, 1),
		statusTopic: "lockers/L1/status",
	}
	o := l.options([]byte(`{"state":"offline"}`))
	hook := &resumeHook{Store: o.Store}
	o.SetStore(hook)
	writing := make(chan struct{}, 1)
	dials := 0
	o.SetCustomOpenConnectionFn(func(u *url.URL, opts paho.ClientOptions) (net.Conn, error) {
		conn, err := l.dial(u, opts) // the link's own dialer, as in production
		if dials++; err != nil || dials == 1 {
			return conn, err
		}
		return &watchConn{Conn: conn, writing: writing}, nil
	})
	c := paho.NewClient(o)
	hook.client = c
	defer c.Disconnect(0)
	const topic = "lockers/L1/events"

	connect := func() <-chan error {
		done := make(chan error, 1)
		go func() {
			tok := c.Connect()
			if !tok.WaitTimeout(20 * time.Second) {
				done <- io.ErrNoProgress
				return
			}
			done <- tok.Error()
		}()
		return done
	}
	wait := func(what string, done <-chan error) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no answer within 20s", what)
		}
	}

	// Connection 1: m1 is written and never acknowledged; then the broker hangs up.
	done := connect()
	conn1 := fb.Accept(false)
	wait("connect 1", done)
	t1 := c.Publish(topic, 1, false, "m1")
	if p := conn1.ReadPublish(); string(p.Payload) != "m1" || p.Dup {
		t.Fatalf("connection 1 got %v, want m1 (not DUP)", p)
	}
	conn1.Close()
	select {
	case <-l.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("paho did not report the lost connection")
	}

	// Connection 2: resume runs while the writer packs m2.
	t2 := make(chan paho.Token, 1)
	hooked := make(chan bool, 1)
	hook.arm(func() {
		go func() { t2 <- c.Publish(topic, 1, false, "m2") }()
		select {
		case <-writing:
			hooked <- true
		case <-time.After(10 * time.Second):
			hooked <- false
		}
	})
	done = connect()
	conn2 := fb.Accept(true)
	var got []*packets.PublishPacket
	for len(got) < 3 {
		got = append(got, conn2.ReadPublish())
	}
	for _, p := range got { // only now: an early PUBACK would take m2 out of the store before resume reads it
		conn2.Puback(p.MessageID)
	}
	wait("connect 2", done)
	if !<-hooked {
		t.Fatal("the writer never took m2 while resume waited")
	}

	seen := map[string]int{}
	for _, p := range got {
		key := string(p.Payload)
		if p.Dup {
			key += " DUP"
		}
		seen[key]++
	}
	if seen["m2"] != 1 || seen["m1 DUP"] != 1 || seen["m2 DUP"] != 1 {
		t.Fatalf("connection 2 got %v, want m2 from the writer, and m1 and m2 re-sent by resume as DUP", seen)
	}
	var tok2 paho.Token
	select {
	case tok2 = <-t2:
	case <-time.After(10 * time.Second):
	}
	for name, tok := range map[string]paho.Token{"m1": t1, "m2": tok2} {
		if tok == nil || !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: publish token not completed by its PUBACK", name)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(o.Store.All()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if keys := o.Store.All(); len(keys) > 0 {
		t.Fatalf("store still holds %v after every PUBACK", keys)
	}
}
