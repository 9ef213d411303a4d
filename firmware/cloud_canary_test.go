package firmware_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/internal/canary"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// wiretap records every message on the broker: an observer subscribed to "#". Each
// message is an item of its canary surface, its topic on the first line and its
// payload as it crossed the broker: a command's claims stay base64url inside the
// JWS, which the harness reads through.
type wiretap struct {
	rec  canary.Record
	mu   sync.Mutex
	n    int
	seen chan string // topics and payloads, as they arrive (non-blocking)
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
		wt.rec.Add(fmt.Sprintf("message %d on %s", wt.n, m.Topic()), []byte(m.Topic()+"\n"+string(m.Payload())))
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

func (wt *wiretap) count() int {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return wt.n
}

// surface is the MQTT traffic. Its canary is planted by the cloud as an operator id
// in a signed open-compartment command (lockerd is stopped by then): it crosses the
// broker inside the JWS's base64url claims, as a command's values do.
func (wt *wiretap) surface(w *cloudWorld, minMessages int) canary.Surface {
	s := wt.rec.Surface("MQTT traffic", canary.KindMQTT)
	s.MinItems = minMessages
	s.Expect = []string{"/cmd\n", `"type":"picked_up"`, `"type":"deposited"`, `"state":"offline"`}
	s.Plant = func(value string) ([]string, error) {
		cmd, err := w.client.NewCommand(w.station.ID, &protocol.OpenCompartmentBody{Compartment: 1, Reason: protocol.OpenSupport, Operator: value})
		if err != nil {
			return nil, err
		}
		before := wt.count()
		if err := w.client.Publish(cmd); err != nil {
			return nil, err
		}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			for _, it := range wt.rec.Items()[before:] {
				if strings.HasSuffix(it.Name, "/cmd") && strings.Contains(string(it.Data), string(cmd.Token)) {
					return []string{it.Name}, nil
				}
			}
		}
		return nil, fmt.Errorf("the wiretap never saw the planted command")
	}
	return s
}

// TestPrivacyCanariesOnTheWire is the privacy canary test with the cloud link, with
// lockerd's default log format (JSON) and with text: the cloud provisions the locker
// over MQTT (digests only), canary parcels are deposited and picked up, a wrong badge,
// a wrong code and a wrong check digit are tried, and then every message that crossed
// the broker (commands, replies, events, presence, seen by a subscriber to "#"), the
// state directory, lockerd's debug log and the control socket's answers are scanned
// through internal/canary for the canary tracking numbers, codes, PINs and badges.
func TestPrivacyCanariesOnTheWire(t *testing.T) {
	for _, lf := range logFormats {
		t.Run(lf.name, func(t *testing.T) { privacyCanariesOnTheWire(t, lf.format) })
	}
}

func privacyCanariesOnTheWire(t *testing.T, logFormat string) {
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "CANARY-2", logLevel: "debug"})
	setLogFormat(t, w.station, logFormat)
	wt := tap(t, w)
	d := newDaemon(t, w.station)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.start(ctx); err != nil {
		t.Fatal(err)
	}
	w.online(ctx, t, "")
	c := newCanaries()
	parcels := []sim.Parcel{
		{ID: "p-canary-1", Tracking: c.tracking[0], Code: c.codes[0], Phone: canaryPhone, Size: "S"},
		{ID: "p-canary-2", Tracking: c.tracking[1], Code: c.codes[1], Phone: canaryPhone, QR: c.qrs[0], Size: "M"},
		{ID: "p-canary-3", Tracking: c.tracking[2], Code: c.codes[1], Phone: canaryPhone, QR: c.qrs[0], Size: "S"},
	}
	w.provision(ctx, t, c.badges[0], c.pins[0], parcels)
	api := newAPITap(t, w.station)
	cl := api.client(t)
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
	if _, err := cl.PickupCode(ctx, c.codes[2], canaryPhone); err == nil {
		t.Fatal("a wrong code opened something")
	}
	if _, err := cl.PickupQR(ctx, c.qrs[1]); err == nil {
		t.Fatal("a wrong QR opened something")
	}
	// The first recipient types the code and phone digits, the second shows the QR.
	for _, pick := range []func() (locker.Pickup, error){
		func() (locker.Pickup, error) { return cl.PickupCode(ctx, c.codes[0], canaryPhone) },
		func() (locker.Pickup, error) { return cl.PickupQR(ctx, c.qrs[0]) },
	} {
		if _, err := pick(); err != nil {
			t.Fatalf("pickup: %v", err)
		}
		waitDoorsShut(ctx, t, w.station, &seq)
	}
	if err := waitIdle(ctx, cl); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Inventory(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Status(ctx); err != nil {
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
	checkLogFormat(t, d.logPath, logFormat)

	c.checkAtRest(t, w.cloud, w.station)
	h := c.harness(t)
	// Messages: the enrolment, courier and announcement commands with their replies,
	// 4 deposits and 2 pickups as events, the three queries and their replies, presence.
	// 2 logins, 5 scans, 3 pickups, Inventory and Status on the control socket.
	register(t, h, wt.surface(w, 20), stateSurface(w.station), logSurface(d.logPath, logFormat), api.surface(12))
	h.Check(t)
}
