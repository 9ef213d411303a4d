package firmware_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/internal/tpmtest"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/sim"
)

// BenchmarkPickupKeys times a pickup through lockerd's control socket (code in, door
// unlocked, reply out) on two stations run side by side in this process, one with
// keys: file and one with keys: tpm on swtpm, the samples interleaved so that the
// host's load falls on both alike. The tpm station's code verifier is a TPM2_HMAC
// (ADR 0047); the rest of the path is the same. It reports both stations' p50 and
// p99 and their ratio (docs/benchmarks.md, "Device keys in a TPM").
func BenchmarkPickupKeys(b *testing.B) {
	const locks, rounds = 16, 8 // samples per station per iteration: locks*rounds
	sw := tpmtest.Start(b)
	file := newKeyBench(b, config.KeysFile, nil, locks)
	tpmSt := newKeyBench(b, config.KeysTPM, sw, locks)
	var fileLat, tpmLat []time.Duration
	ctx := context.Background()
	for b.Loop() {
		for range rounds {
			fp := file.deposit(ctx, b, locks)
			tp := tpmSt.deposit(ctx, b, locks)
			for i := range locks {
				fileLat = append(fileLat, file.pickup(ctx, b, fp[i]))
				tpmLat = append(tpmLat, tpmSt.pickup(ctx, b, tp[i]))
			}
		}
	}
	pct := func(d []time.Duration, p float64) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[min(len(s)-1, int(float64(len(s))*p))]
	}
	f50, f99, t50, t99 := pct(fileLat, .5), pct(fileLat, .99), pct(tpmLat, .5), pct(tpmLat, .99)
	b.ReportMetric(float64(f50.Microseconds()), "p50-file-µs")
	b.ReportMetric(float64(f99.Microseconds()), "p99-file-µs")
	b.ReportMetric(float64(t50.Microseconds()), "p50-tpm-µs")
	b.ReportMetric(float64(t99.Microseconds()), "p99-tpm-µs")
	b.ReportMetric(float64(t50)/float64(f50), "p50-ratio")
	b.ReportMetric(float64(t99)/float64(f99), "p99-ratio")
}

type keyBench struct {
	st    *sim.Station
	cloud *sim.Cloud
	cl    *control.Client
	badge string // the courier's token (privacy.NewBadgeToken)
}

func newKeyBench(b *testing.B, keys string, sw *tpmtest.SWTPM, locks int) *keyBench {
	b.Helper()
	cloud, err := sim.NewCloud()
	if err != nil {
		b.Fatal(err)
	}
	st, err := sim.NewStation(sim.StationOptions{LockerID: "BENCH-" + keys, Dir: b.TempDir(), Cloud: cloud, Boards: 1, Locks: locks,
		Person: lockboardtest.OpenThenClose(time.Millisecond, 3*time.Millisecond), Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	st.Config.Keys = keys
	opt := st.Options()
	if sw != nil {
		opt.TPM = sw.TPM()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	opt.Ready = func() { close(ready) }
	go func() { done <- firmware.Run(ctx, st.Config, quietLog(), opt) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("lockerd (%s): %v", keys, err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		b.Fatalf("lockerd (%s) did not start: %v", keys, err)
	case <-time.After(20 * time.Second):
		b.Fatalf("lockerd (%s) not ready after 20s", keys)
	}
	k := &keyBench{st: st, cloud: cloud, cl: st.Client()}
	b.Cleanup(func() { k.cl.Close() })
	sctx := context.Background()
	id, err := k.cl.Identity(sctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := cloud.Enrol(id.LockerID, id.Public); err != nil {
		b.Fatal(err)
	}
	k.badge = privacy.NewBadgeToken()
	req, err := cloud.CourierRequest(id.LockerID, "c-bench", k.badge, "1357", locker.Rights{Deposit: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := k.cl.UpsertCourier(sctx, req); err != nil {
		b.Fatal(err)
	}
	return k
}

// deposit announces n parcels and has the courier deposit them (the virtual doors
// open and close by themselves); it returns them.
func (k *keyBench) deposit(ctx context.Context, b *testing.B, n int) []sim.Parcel {
	b.Helper()
	var parcels []sim.Parcel
	var batch []control.Announcement
	for range n {
		p := k.cloud.NewParcel("S")
		a, err := k.cloud.Announcement(k.st.ID, p)
		if err != nil {
			b.Fatal(err)
		}
		parcels, batch = append(parcels, p), append(batch, a)
	}
	if _, err := k.cl.Announce(ctx, batch); err != nil {
		b.Fatal(err)
	}
	sid, err := k.cl.Login(ctx, k.badge, "1357")
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range parcels {
		seq := k.st.Boards.LastSeq()
		if _, err := k.cl.Scan(ctx, sid, p.Tracking, "S"); err != nil {
			b.Fatalf("deposit: %v", err)
		}
		k.shut(ctx, b, seq)
	}
	_ = k.cl.Logout(ctx, sid)
	return parcels
}

// pickup enters p's code and returns the time until lockerd answered (after the
// unlock), then waits for the door to close again.
func (k *keyBench) pickup(ctx context.Context, b *testing.B, p sim.Parcel) time.Duration {
	b.Helper()
	seq := k.st.Boards.LastSeq()
	t0 := time.Now()
	res, err := k.cl.Pickup(ctx, p.Code)
	d := time.Since(t0)
	if err != nil || len(res.Slots) != 1 {
		b.Fatalf("pickup: %+v %v", res, err)
	}
	k.shut(ctx, b, seq)
	return d
}

// shut waits until every door unlocked after seq has closed again and the station
// has finished the operation.
func (k *keyBench) shut(ctx context.Context, b *testing.B, seq uint64) {
	b.Helper()
	for _, e := range k.st.Boards.History() {
		if e.Seq <= seq || e.Kind != lockboardtest.EventUnlock {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := k.st.Boards.WaitEvent(wctx, e.Seq, lockboardtest.Is(lockboardtest.EventDoorClose, e.Board, e.Lock))
		cancel()
		if err != nil {
			b.Fatal(fmt.Errorf("door did not close: %w", err))
		}
	}
	if err := waitIdle(ctx, k.cl); err != nil {
		b.Fatal(err)
	}
}
