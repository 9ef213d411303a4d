package firmware_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// wiretap records every message on the broker: an observer subscribed to "#".
type wiretap struct {
	mu   sync.Mutex
	data bytes.Buffer
	n    int
	seen chan string // topics, as they arrive (non-blocking)
}

func tap(t *testing.T, w *cloudWorld) *wiretap {
	t.Helper()
	wt := &wiretap{seen: make(chan string, 4096)}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(w.broker.TLSURL()).SetTLSConfig(w.broker.ClientTLS(observerCN)).
		SetClientID("wiretap").SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("wiretap: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	tok := c.Subscribe("#", 1, func(_ paho.Client, m paho.Message) {
		wt.mu.Lock()
		wt.data.WriteString(m.Topic() + "\n")
		wt.data.Write(m.Payload())
		wt.data.WriteString("\n")
		// Commands are JWS: their claims travel base64url-encoded, so a leak there
		// would hide from a plain scan. Decode them too.
		if parts := strings.Split(string(m.Payload()), "."); strings.HasSuffix(m.Topic(), "/cmd") && len(parts) == 3 {
			if claims, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
				wt.data.Write(claims)
				wt.data.WriteString("\n")
			}
		}
		wt.n++
		wt.mu.Unlock()
		select {
		case wt.seen <- m.Topic() + " " + string(m.Payload()):
		default:
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil || tok.(*paho.SubscribeToken).Result()["#"] > 2 {
		t.Fatalf("wiretap subscription refused: %v", tok.Error())
	}
	return wt
}

func (wt *wiretap) bytes() ([]byte, int) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return bytes.Clone(wt.data.Bytes()), wt.n
}

// TestPrivacyCanariesOnTheWire is the privacy canary test with the cloud link: the
// cloud provisions the locker over MQTT (digests only), canary parcels are deposited
// and picked up, a wrong badge, a wrong code and a wrong check digit are tried, and
// then every message that crossed the broker (commands, replies, events, presence,
// seen by a subscriber to "#"), the state directory and lockerd's debug log are
// scanned for the canary tracking numbers, codes, PINs and badges.
func TestPrivacyCanariesOnTheWire(t *testing.T) {
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "CANARY-2", logLevel: "debug"})
	wt := tap(t, w)
	d := newDaemon(t, w.station)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.start(ctx); err != nil {
		t.Fatal(err)
	}
	w.online(ctx, t, "")
	c := canaries{
		tracking: []string{"RB987654326GB", "773019284756102", "CANARYX5550123", "RA000000005DE"},
		codes:    []string{"73914682", "55281937", "90817263"},
		// 8 digits: a 4-digit canary turns up by chance in hex ids and digests.
		pins:   []string{"86420975", "13579024"},
		badges: []string{"CANARY-BADGE-7F3A", "QR:CANARY-TOKEN-0042"},
	}
	parcels := []sim.Parcel{
		{ID: "p-canary-1", Tracking: c.tracking[0], Code: c.codes[0], Size: "S"},
		{ID: "p-canary-2", Tracking: c.tracking[1], Code: c.codes[1], Size: "M"},
		{ID: "p-canary-3", Tracking: c.tracking[2], Code: c.codes[1], Size: "S"},
	}
	w.provision(ctx, t, c.badges[0], c.pins[0], parcels)
	cl := d.client
	if _, err := cl.Login(ctx, c.badges[1], c.pins[1]); err == nil {
		t.Fatal("an unknown badge logged in")
	}
	sid, err := cl.Login(ctx, c.badges[0], c.pins[0])
	if err != nil {
		t.Fatal(err)
	}
	seq := w.station.Boards.LastSeq()
	for _, tn := range c.tracking {
		if _, err := cl.Scan(ctx, sid, tn, "S"); err != nil {
			t.Fatalf("scan …%s: %v", tn[len(tn)-4:], err)
		}
		waitDoorsShut(ctx, t, w.station, &seq)
	}
	if _, err := cl.Scan(ctx, sid, c.tracking[0][:len(c.tracking[0])-3]+"9GB", "S"); err == nil {
		t.Fatal("a wrong check digit was accepted")
	}
	if _, err := cl.Pickup(ctx, c.codes[2]); err == nil {
		t.Fatal("a wrong code opened something")
	}
	for _, code := range c.codes[:2] {
		if _, err := cl.Pickup(ctx, code); err != nil {
			t.Fatalf("pickup: %v", err)
		}
		waitDoorsShut(ctx, t, w.station, &seq)
	}
	if err := waitIdle(ctx, cl); err != nil {
		t.Fatal(err)
	}
	for _, body := range []protocol.Body{&protocol.InventoryBody{}, &protocol.StatusBody{}, &protocol.AuditRangeBody{From: 1}} {
		if _, err := w.client.Do(ctx, w.station.ID, body); err != nil {
			t.Fatal(err)
		}
	}
	drained(ctx, t, w)
	d.stop()
	// The offline presence is the last message lockerd sends.
	for deadline := time.After(20 * time.Second); ; {
		select {
		case m := <-wt.seen:
			if !strings.HasSuffix(strings.Fields(m)[0], "/status") || !strings.Contains(m, `"offline"`) {
				continue
			}
		case <-deadline:
			t.Fatal("the wiretap never saw lockerd go offline")
		}
		break
	}

	all := c.all()
	traffic, messages := wt.bytes()
	logData, err := os.ReadFile(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	// Positive controls: the tap saw the provisioning and the events, and the scan
	// finds a canary where there is one.
	for _, want := range []string{"/cmd\n", `"typ":"announce","body":{"parcels"`, `"type":"picked_up"`, `"type":"deposited"`, `"state":"offline"`} {
		if !bytes.Contains(traffic, []byte(want)) {
			t.Fatalf("the wiretap missed %s", want)
		}
	}
	if len(findCanaries([]byte("x"+c.badges[1]+"y"), all)) != 1 {
		t.Fatal("the canary scan cannot see what it looks for")
	}
	if hits := findCanaries(traffic, all); len(hits) > 0 {
		t.Errorf("MQTT traffic holds %v", hits)
	}
	for path, data := range readTree(t, w.station.Config.StateDir) {
		if hits := findCanaries(data, all); len(hits) > 0 {
			t.Errorf("%s holds %v", path, hits)
		}
	}
	if hits := findCanaries(logData, all); len(hits) > 0 {
		t.Errorf("lockerd's log holds %v", hits)
	}
	t.Logf("scanned %d MQTT messages (%d bytes), the state directory and %d bytes of log for %d canaries",
		messages, len(traffic), len(logData), len(all))
}
