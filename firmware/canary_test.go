package firmware_test

import (
	"context"
	"github.com/lockerd/lockerd/internal/canary"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/sim"
)

// TestPrivacyCanaries runs lockerd as a process, with its default log format (JSON)
// and with text, through deposits, pickups, a wrong code, a wrong check digit, an
// unknown badge and an unannounced parcel, all with canary values, then scans every
// file in the state directory, the whole log and every answer the control socket
// wrote, in every spelling internal/canary knows (plain, JSON-escaped, case-folded,
// hex, base64 and base64url at any offset, UTF-16). The scan must have read the store,
// the keyring and the identity, and must find a canary planted on each surface.
func TestPrivacyCanaries(t *testing.T) {
	for _, lf := range logFormats {
		t.Run(lf.name, func(t *testing.T) { privacyCanaries(t, lf.format) })
	}
}

func privacyCanaries(t *testing.T, logFormat string) {
	cloud, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	// Log at debug level: the most verbose log must be clean too.
	st, err := sim.NewStation(sim.StationOptions{LockerID: "CANARY-1", Dir: t.TempDir(), Cloud: cloud, LogLevel: "debug",
		Person: lockboardtest.OpenThenClose(30*time.Millisecond, 300*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	setLogFormat(t, st, logFormat)
	setMetricsListen(t, st)
	d := newDaemon(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.start(ctx); err != nil {
		t.Fatal(err)
	}
	tap := newAPITap(t, st)
	cl := tap.client(t)
	id, err := cl.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cloud.Enrol(id.LockerID, id.Public); err != nil {
		t.Fatal(err)
	}
	c := newCanaries()
	parcels := []sim.Parcel{
		{ID: "p-canary-1", Tracking: c.tracking[0], Code: c.codes[0], Phone: canaryPhone, Size: "S"},
		{ID: "p-canary-2", Tracking: c.tracking[1], Code: c.codes[1], Phone: canaryPhone, QR: c.qrs[0], Size: "M"},
		{ID: "p-canary-3", Tracking: c.tracking[2], Code: c.codes[1], Phone: canaryPhone, QR: c.qrs[0], Size: "S"},
	}
	var batch []control.Announcement
	for _, p := range parcels {
		a, err := cloud.Announcement(id.LockerID, p)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, a)
	}
	if _, err := cl.Announce(ctx, batch); err != nil {
		t.Fatal(err)
	}
	cred, err := cloud.CourierRequest(id.LockerID, "c-canary", c.badges[0], c.pins[0], locker.Rights{Deposit: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.UpsertCourier(ctx, cred); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Login(ctx, c.badges[1], c.pins[1]); err == nil {
		t.Fatal("an unknown badge logged in")
	}
	sid, err := cl.Login(ctx, c.badges[0], c.pins[0])
	if err != nil {
		t.Fatal(err)
	}
	seq := st.Boards.LastSeq()
	for _, tn := range c.tracking { // the last one was never announced
		if _, err := cl.Scan(ctx, sid, tn, "S"); err != nil {
			t.Fatalf("scan …%s: %v", tn[len(tn)-4:], err)
		}
		waitDoorsShut(ctx, t, st, &seq)
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
		waitDoorsShut(ctx, t, st, &seq)
	}
	if err := waitIdle(ctx, cl); err != nil {
		t.Fatal(err)
	}
	// What an operator's tool shows, scanned as lockerd wrote it.
	if _, err := cl.Inventory(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Status(ctx); err != nil {
		t.Fatal(err)
	}
	// Identity, Announce, UpsertCourier, 2 logins, 5 scans, 3 pickups, Inventory and
	// Status (waitIdle's inventories come on top).
	const calls = 15
	var metricsPages canary.Record
	scrapeMetrics(t, metricsURL(t, d.logPath), &metricsPages, 3) // the QR opens parcels 2 and 3
	d.stop()
	checkLogFormat(t, d.logPath, logFormat)

	c.checkAtRest(t, cloud, st) // before the harness below plants its own canaries
	h := c.harness(t)
	register(t, h, stateSurface(st), logSurface(d.logPath, logFormat), tap.surface(calls), metricsSurface(&metricsPages))
	h.Check(t)
}

// waitDoorsShut waits for every door unlocked since *seq to be shut by the virtual person.
func waitDoorsShut(ctx context.Context, t *testing.T, st *sim.Station, seq *uint64) {
	t.Helper()
	for _, e := range st.Boards.History() {
		if e.Seq <= *seq || e.Kind != lockboardtest.EventUnlock {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := st.Boards.WaitEvent(wctx, e.Seq, lockboardtest.Is(lockboardtest.EventDoorClose, e.Board, e.Lock))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	*seq = st.Boards.LastSeq()
}
