package firmware_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/sim"
)

// TestUnconfirmedUnlocksPublishedInOrder is the field's case: a CU16 board that does
// not answer unlock frames, so the driver confirms each unlock by a status read that
// already shows the latch (and soon the door) open. For every door operation of nine
// deposits through the real daemon, driver and pty, unlocked gets a lower seq than
// door_opened (docs/adr/0053-unlock-recorded-before-the-door-it-opens.md). Before
// that ADR 1-3 of the 9 came out reversed in every run; locker's
// TestUnlockedPrecedesDoorOpened is the deterministic test of the same guarantee.
func TestUnconfirmedUnlocksPublishedInOrder(t *testing.T) {
	cloud, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	const n = 9
	st, err := sim.NewStation(sim.StationOptions{LockerID: "ORD-1", Dir: t.TempDir(), Cloud: cloud, Boards: 1, Locks: n,
		Person: lockboardtest.OpenThenClose(5*time.Millisecond, 400*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var unlockFrames sync.Map // locks whose unlock frame the board left unanswered
	st.Boards.SetReplyHook(func(req lockboard.Request, reply []byte) []byte {
		if req.Op == lockboard.OpUnlock {
			unlockFrames.Store(req.Lock, true)
			return nil
		}
		return reply
	})

	var mu sync.Mutex
	var all []locker.Event
	events := sim.NewEvents(1024)
	ready := make(chan struct{})
	opt := st.Options()
	opt.Observer = func(e locker.Event) {
		mu.Lock()
		all = append(all, e)
		mu.Unlock()
		events.Observe(e)
	}
	opt.Ready = func() { close(ready) }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- firmware.Run(runCtx, st.Config, slog.New(slog.NewTextHandler(io.Discard, nil)), opt) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("lockerd did not start: %v", err)
	}
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("lockerd: %v", err)
		}
	}()

	cl := st.Client()
	defer cl.Close()
	id, err := cl.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cloud.Enrol(id.LockerID, id.Public); err != nil {
		t.Fatal(err)
	}
	badge, pin := "ORD-BADGE-0001-ABCDEFGHIJKLMNOPQRSTU", "8642"
	cred, _ := cloud.CourierRequest(id.LockerID, "c-1", badge, pin, locker.Rights{Deposit: true})
	if err := cl.UpsertCourier(ctx, cred); err != nil {
		t.Fatal(err)
	}
	var parcels []sim.Parcel
	var anns []control.Announcement
	for range n {
		p := cloud.NewParcel("S")
		a, err := cloud.Announcement(id.LockerID, p)
		if err != nil {
			t.Fatal(err)
		}
		parcels, anns = append(parcels, p), append(anns, a)
	}
	if _, err := cl.Announce(ctx, anns); err != nil {
		t.Fatal(err)
	}
	sid, err := cl.Login(ctx, badge, pin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parcels {
		if _, err := cl.Scan(ctx, sid, p.Tracking, ""); err != nil {
			t.Fatalf("scan %s: %v", p.ID, err)
		}
		if _, err := events.Wait(ctx, 10*time.Second, func(e locker.Event) bool {
			return e.Type == locker.EvDeposited && string(e.Parcel) == p.ID
		}); err != nil {
			mu.Lock()
			for _, e := range all {
				t.Logf("%d %s c%d g%d %s", e.Seq, e.Type, e.Compartment, e.Generation, e.Reason)
			}
			mu.Unlock()
			for _, e := range st.Boards.History() {
				t.Logf("board: %v", e)
			}
			t.Fatalf("parcel %s not deposited: %v", p.ID, err)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	type op struct {
		c locker.CompartmentID
		g uint64
	}
	unlocked, opened := map[op]uint64{}, map[op]uint64{}
	for _, e := range all {
		k := op{e.Compartment, uint64(e.Generation)}
		switch e.Type {
		case locker.EvUnlocked:
			unlocked[k] = e.Seq
		case locker.EvDoorOpened:
			if _, seen := opened[k]; !seen {
				opened[k] = e.Seq
			}
		}
	}
	frames := 0
	unlockFrames.Range(func(any, any) bool { frames++; return true })
	if len(unlocked) != n || frames != n {
		t.Fatalf("%d unlocked events, %d locks left unanswered; want %d each", len(unlocked), frames, n)
	}
	bad := 0
	for k, u := range unlocked {
		if o, ok := opened[k]; !ok || o < u {
			bad++
			t.Errorf("compartment %d: unlocked seq %d, door_opened seq %d (0: none)", k.c, u, o)
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d door operations published door_opened before unlocked", bad, n)
	}
}
