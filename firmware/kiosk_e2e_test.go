package firmware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/firmware/kiosk/kiosktest"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/sim"
)

// TestKioskEndToEnd runs lockerd in-process on a sim station (CU16 boards on a pty, a
// scanner on a pty, a 4x4 matrix keypad) with its kiosk on a free loopback port, and
// plays a courier's deposit and a recipient's pickup through the page in Chromium: the
// badge and the parcel to the scanner, the PIN, the code and the phone's digits on
// the screen's keys, the language by the physical keypad's B key. Then a kiosk client
// tries what only the control socket's admin may do: announce, courier upsert, open a
// door by id; each is refused and the station is unchanged.
func TestKioskEndToEnd(t *testing.T) {
	cloud, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	st, err := sim.NewStation(sim.StationOptions{LockerID: "E2E-KIOSK", Dir: t.TempDir(), Cloud: cloud, Boards: 1, Locks: 6,
		Person:   lockboardtest.OpenThenClose(30*time.Millisecond, 200*time.Millisecond),
		Hardware: sim.HardwareOptions{Scanner: true, Keypad: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	listen := "127.0.0.1:0"
	st.Config.Kiosk.Listen = &listen

	var logs testenv.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	events := sim.NewEvents(1024)
	ready, urls := make(chan struct{}), make(chan string, 1)
	opt := st.Options()
	opt.Observer, opt.Ready = events.Observe, func() { close(ready) }
	opt.Kiosk = func(url string) { urls <- url }
	ctx := testenv.Context(t, 3*time.Minute)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- firmware.Run(runCtx, st.Config, log, opt) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("lockerd stopped with %v", err)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("lockerd did not start: %v", err)
	}
	url := <-urls

	cl := st.Client()
	defer cl.Close()
	id, err := cl.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cloud.Enrol(id.LockerID, id.Public); err != nil {
		t.Fatal(err)
	}
	badge, pin := "KIOSK-BADGE-2718-ABCDEFGHIJKLMNOPQRS", "9753"
	cred, _ := cloud.CourierRequest(id.LockerID, "c-7", badge, pin, locker.Rights{Deposit: true})
	if err := cl.UpsertCourier(ctx, cred); err != nil {
		t.Fatal(err)
	}
	parcel := cloud.NewParcel("M")
	a, err := cloud.Announcement(id.LockerID, parcel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Announce(ctx, []control.Announcement{a}); err != nil {
		t.Fatal(err)
	}

	b := kiosktest.Browser(t, 800, 480)
	kiosktest.Do(t, b, "welcome", chromedp.Navigate(url), kiosktest.WaitPrompt("welcome"))
	if err := st.Scanner.Type(panel.PrefixBadge + badge); err != nil {
		t.Fatal(err)
	}
	kiosktest.Do(t, b, "login", kiosktest.WaitPrompt("enter_pin"), kiosktest.Press(pin+"#"), kiosktest.WaitPrompt("session_open"))
	if err := st.Scanner.Type(parcel.Tracking); err != nil {
		t.Fatal(err)
	}
	kiosktest.Do(t, b, "deposit", kiosktest.WaitPrompt("deposit"))
	title := kiosktest.Get(t, b, "deposit title", kiosktest.Text("title"))
	door, ok := strings.CutSuffix(strings.TrimPrefix(title, "Door "), " is open")
	if !ok || door == "" {
		t.Fatalf("deposit title %q", title)
	}
	if _, err := events.Wait(ctx, 10*time.Second, func(e locker.Event) bool { return e.Type == locker.EvDeposited }); err != nil {
		t.Fatal(err)
	}
	kiosktest.Do(t, b, "close session", chromedp.Click(chromedp.ID("done"), chromedp.NodeVisible), kiosktest.WaitPrompt("session_closed"))

	// The physical keypad's B key is the kiosk's: the page turns to Chinese.
	if err := st.Keypad.Type(ctx, "B", 200*time.Millisecond, 200*time.Millisecond, 1); err != nil {
		t.Fatal(err)
	}
	kiosktest.Do(t, b, "language by the keypad", kiosktest.WaitLang("zh-Hans"))
	kiosktest.Do(t, b, "pickup", kiosktest.Press(parcel.Code+"#"), kiosktest.WaitPrompt("phone"),
		kiosktest.Press(parcel.Phone+"#"), kiosktest.WaitPrompt("doors_open"))
	if title := kiosktest.Get(t, b, "pickup title", kiosktest.Text("title")); title != door+" 号柜门已打开" {
		t.Fatalf("pickup title %q, want door %s", title, door)
	}
	if open := kiosktest.Get(t, b, "map", chromedp.Text(chromedp.CSS("#map li.open"))); !strings.Contains(open, door) {
		t.Fatalf("map marks %q open, want %s", open, door)
	}
	kiosktest.Screenshot(t, b, "e2e-pickup-zh-Hans")
	if _, err := events.Wait(ctx, 10*time.Second, func(e locker.Event) bool { return e.Type == locker.EvPickedUp }); err != nil {
		t.Fatal(err)
	}

	// A kiosk client has the keypad's rights only.
	before, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := cloud.NewParcel("S")
	oa, _ := cloud.Announcement(id.LockerID, other)
	rogue, _ := cloud.CourierRequest(id.LockerID, "c-rogue", "ROGUE-BADGE-0000-ABCDEFGHIJKLMNOP", "1234", locker.Rights{Deposit: true, Retrieve: true})
	for _, r := range []struct {
		path string
		body any
	}{
		{control.PathAnnounce, map[string]any{"parcels": []control.Announcement{oa}}},
		{control.PathAnnounce, []control.Announcement{oa}},
		{control.PathCourier, rogue},
		{control.PathResolve, map[string]any{"compartment": 1, "present": false}},
		{"/v1/open", map[string]any{"compartment": 1}},
		{"/open", map[string]any{"compartment": 1}},
		{"/v1/compartments/1/open", map[string]any{}},
	} {
		body, _ := json.Marshal(r.body)
		req, _ := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(url, "/")+r.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", strings.TrimSuffix(url, "/"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("kiosk client POST %s: %d, want refused", r.path, resp.StatusCode)
		}
	}
	after, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("the station changed under refused kiosk requests:\n%+v\n%+v", before, after)
	}
	if _, err := cl.Login(ctx, "ROGUE-BADGE-0000-ABCDEFGHIJKLMNOP", "1234"); err == nil {
		t.Fatal("the rogue courier was provisioned")
	}
	for _, secret := range []string{badge, pin, parcel.Tracking, parcel.Code, parcel.QR} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a secret")
		}
	}
}
