package locker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/curve25519"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/locker/lookup"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
	"github.com/lockerd/lockerd/locker/store/boltstore"
)

// timingHW records when Unlock is called, for latency measurements.
type timingHW struct {
	fakeHW
	at time.Time
}

func (h *timingHW) Unlock(ctx context.Context, id CompartmentID) error {
	h.at = time.Now()
	return nil
}

func code(i int) string { return fmt.Sprintf("%08d", 10_000_000+i*7919%89_999_999) }

// seed writes n parcels, parcel i under code(i), a transaction per batch. doors: they
// are deposited behind door compartments 1..n; else they are announced and waiting for
// their courier (a locker holds a few hundred parcels at most; a fleet announces many).
func (f *fixture) seed(n int, doors bool) {
	f.t.Helper()
	const batch = 5000
	for start := 0; start < n; start += batch {
		err := f.st.update(func(t *txn) error {
			ep := f.st.epochOf(t.now)
			for i := start; i < min(n, start+batch); i++ {
				wb, _ := f.st.index.Seal(ep, f.cloud.Waybill(fmt.Sprintf("%015d", int64(100_000_000_000)+int64(i))))
				v, _ := f.st.index.Seal(ep, f.cloud.CodeVerifier2(code(i), testPhone))
				p := &Parcel{ID: ParcelID(fmt.Sprintf("b-%d", i)), Epoch: ep, Waybill: wb, CodeVerifier: v, Size: SizeS,
					State: StateAnnounced, Announced: true, KeepUntil: t.now.Add(14 * 24 * time.Hour), Hint: "…1234"}
				if doors {
					c := t.comp(CompartmentID(i + 1))
					c.Parcels = append(c.Parcels, p.ID)
					p.State, p.Compartment, p.ExpiresAt, p.KeepUntil = StateDeposited, c.ID, t.now.Add(72*time.Hour), time.Time{}
				}
				if err := t.putParcel(nil, p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

func newBenchFixture(b *testing.B, specs []CompartmentSpec) *fixture {
	f := newFixture(b, specs)
	f.st.log = discardLogger()
	f.st.observer = nil
	return f
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func doorSpecs(n int) []CompartmentSpec {
	out := make([]CompartmentSpec, n)
	for i := range out {
		out[i] = CompartmentSpec{ID: CompartmentID(i + 1), Size: SizeM, Kind: KindDoor}
	}
	return out
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkCodeToUnlock measures code entry -> Unlock call, beside a raw fsync'd bbolt
// commit of the same store, interleaved in the same run (architecture §8: p99 within 2x), with
// the garbage collector set as lockerd sets it (GCPercent). link=up acknowledges the
// outbox between samples, as a connected cloud link does; link=down lets it grow.
func BenchmarkCodeToUnlock(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	for _, linkUp := range []bool{true, false} {
		b.Run(fmt.Sprintf("link=%s", map[bool]string{true: "up", false: "down"}[linkUp]), func(b *testing.B) {
			benchCodeToUnlock(b, linkUp)
		})
	}
}

func benchCodeToUnlock(b *testing.B, linkUp bool) {
	const samples = 2000
	var path, raw []time.Duration
	var pathPages, rawPages, pathBytes, rawBytes int64
	payload := make([]byte, 512)
	for b.Loop() {
		path, raw = path[:0], raw[:0]
		pathPages, rawPages, pathBytes, rawBytes = 0, 0, 0, 0
		f := newBenchFixture(b, doorSpecs(samples))
		hw := &timingHW{}
		f.st.unlocker = hw
		f.seed(samples, true)
		db := f.st.db()
		for i := range samples {
			w0, io0 := pagesWritten(db), testenv.ReadProcIO()
			t0 := time.Now()
			if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("bench"), payload) }); err != nil {
				b.Fatal(err)
			}
			raw = append(raw, time.Since(t0))
			w1, io1 := pagesWritten(db), testenv.ReadProcIO()
			t0 = time.Now()
			res, err := f.st.EnterCode(ctx, code(i), testPhone)
			if err != nil || len(res.Slots) != 1 {
				b.Fatalf("pickup %d: %+v %v", i, res, err)
			}
			path = append(path, hw.at.Sub(t0))
			w2, io2 := pagesWritten(db), testenv.ReadProcIO()
			rawPages, pathPages = rawPages+w1-w0, pathPages+w2-w1
			rawBytes, pathBytes = rawBytes+io1.WriteBytes-io0.WriteBytes, pathBytes+io2.WriteBytes-io1.WriteBytes
			if linkUp {
				evs, err := f.st.outboxPending(0, 100)
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range evs {
					if err := f.st.outboxAck(e.Seq); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	}
	p50, p99 := percentile(path, 0.50), percentile(path, 0.99)
	r50, r99 := percentile(raw, 0.50), percentile(raw, 0.99)
	b.ReportMetric(float64(p50.Microseconds()), "p50-code-to-unlock-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-code-to-unlock-µs")
	b.ReportMetric(float64(r50.Microseconds()), "p50-raw-commit-µs")
	b.ReportMetric(float64(r99.Microseconds()), "p99-raw-commit-µs")
	b.ReportMetric(float64(p99)/float64(r99), "p99-ratio")
	// What each commit writes: page writes as bbolt counts them (dirty pages, freelist,
	// meta) and bytes the kernel accounts to this process (/proc/self/io write_bytes).
	b.ReportMetric(float64(pathPages)/samples, "pages/code-commit")
	b.ReportMetric(float64(rawPages)/samples, "pages/raw-commit")
	b.ReportMetric(float64(pathBytes)/samples/1024, "KB/code-commit")
	b.ReportMetric(float64(rawBytes)/samples/1024, "KB/raw-commit")
}

// BenchmarkCodeLookup measures finding the parcels under a code, at 1,000 and 100,000
// waiting parcels: the lookup is indexed, so the two should be about equal.
func BenchmarkCodeLookup(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("parcels=%d", n), func(b *testing.B) {
			f := newBenchFixture(b, []CompartmentSpec{{ID: 1, Size: SizeXL, Kind: KindShelf, Capacity: 200_000}})
			f.seed(n, false)
			i := 0
			for b.Loop() {
				v, err := privacy.CodeDigest2(f.st.keys, code(i%n), testPhone)
				if err != nil {
					b.Fatal(err)
				}
				var ps []*Parcel
				if err := f.st.store.View(func(t store.Tx) error {
					var err error
					ps, err = f.st.index.ByVerifier(t, lookup.Key{Kind: lookup.Code2, V: v}, f.st.liveEpochs())
					return err
				}); err != nil || len(ps) != 1 {
					b.Fatalf("%d parcels under code %d: %v", len(ps), i%n, err)
				}
				i++
			}
		})
	}
}

// BenchmarkStartup100k seeds a store with 100,000 deposited parcels, then starts a fresh
// process that opens it, reconciles and answers 1,000 codes, and reports the time to
// ready and that process's resident memory (architecture §8: < 1 s, < 64 MB).
func BenchmarkStartup100k(b *testing.B) {
	f := newBenchFixture(b, []CompartmentSpec{{ID: 1, Size: SizeXL, Kind: KindShelf, Capacity: 200_000}})
	f.seed(100_000, false)
	f.st.Close()
	f.opt.Keyring.Close()
	spec, _ := json.Marshal(childSpec{Dir: f.dir, Capacity: 200_000, FleetPrivate: f.fleetPriv})
	var ready, rss, anon, file []float64
	var store float64
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "LOCKER_STARTUP_CHILD="+string(spec))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		var r childResult
		if err := json.Unmarshal(out[bytes.LastIndexByte(out[:len(out)-1], '\n')+1:], &r); err != nil {
			b.Fatalf("child said %q: %v", out, err)
		}
		ready, rss = append(ready, r.ReadyMS), append(rss, r.RSSMB)
		anon, file, store = append(anon, r.AnonMB), append(file, r.FileMB), r.StoreMB
	}
	for _, v := range [][]float64{ready, rss, anon, file} {
		slices.Sort(v)
	}
	b.ReportMetric(ready[len(ready)/2], "ready-ms")
	b.ReportMetric(rss[len(rss)-1], "rss-MB")
	b.ReportMetric(anon[len(anon)-1], "rss-anon-MB")
	b.ReportMetric(file[len(file)-1], "rss-file-MB")
	b.ReportMetric(store, "store-MB")
	f.open() // for the fixture's cleanup
}

type childSpec struct {
	Dir          string
	Capacity     int
	FleetPrivate [32]byte
}

type childResult struct {
	ReadyMS float64
	RSSMB   float64 // VmRSS: anonymous + file-backed (the mmap'd store)
	AnonMB  float64
	FileMB  float64
	StoreMB float64
}

// startupChild is the measured process of BenchmarkStartup100k.
func startupChild(spec string) {
	var cs childSpec
	if err := json.Unmarshal([]byte(spec), &cs); err != nil {
		panic(err)
	}
	debug.SetGCPercent(GCPercent) // as lockerd runs
	t0 := time.Now()
	kr, err := privacy.OpenKeyring(cs.Dir)
	if err != nil {
		panic(err)
	}
	id, err := privacy.LoadOrCreateIdentity(cs.Dir)
	if err != nil {
		panic(err)
	}
	fleetPub := publicOf(cs.FleetPrivate)
	keys, err := privacy.DeriveKeys(id, fleetPub, "LK-T1")
	if err != nil {
		panic(err)
	}
	cloud, err := privacy.DeriveCloudKeys(cs.FleetPrivate, id.Public(), "LK-T1")
	if err != nil {
		panic(err)
	}
	st, err := Open(Options{LockerID: "LK-T1", StorePath: filepath.Join(cs.Dir, "store.db"), OpenStore: boltstore.Open,
		Compartments: []CompartmentSpec{{ID: 1, Size: SizeXL, Kind: KindShelf, Capacity: cs.Capacity}},
		Policy:       DefaultPolicy(), Keys: keys, Keyring: kr, Unlocker: &fakeHW{}, Doors: &fakeHW{},
		Logger: discardLogger()})
	if err != nil {
		panic(err)
	}
	if err := st.Reconcile(context.Background()); err != nil {
		panic(err)
	}
	ready := time.Since(t0)
	for i := 0; i < 100_000; i += 100 {
		var ps []*Parcel
		st.store.View(func(t store.Tx) error {
			ps, err = st.index.ByVerifier(t, lookup.Key{Kind: lookup.Code2, V: cloud.CodeVerifier2(code(i), testPhone)}, st.liveEpochs())
			return err
		})
		if len(ps) != 1 {
			panic(fmt.Sprintf("code %d: %d parcels", i, len(ps)))
		}
	}
	fi, err := os.Stat(filepath.Join(cs.Dir, "store.db"))
	if err != nil {
		panic(err)
	}
	res, _ := json.Marshal(childResult{StoreMB: float64(fi.Size()) / (1 << 20), ReadyMS: float64(ready.Microseconds()) / 1000, RSSMB: procStatusMB("VmRSS:"),
		AnonMB: procStatusMB("RssAnon:"), FileMB: procStatusMB("RssFile:")})
	fmt.Println(string(res))
}

func publicOf(priv [32]byte) [32]byte {
	pub, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		panic(err)
	}
	return [32]byte(pub)
}

// procStatusMB reads a memory figure of this process from /proc/self/status.
func procStatusMB(field string) float64 {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return -1
}

func TestMain(m *testing.M) {
	if spec := os.Getenv("LOCKER_STARTUP_CHILD"); spec != "" {
		startupChild(spec)
		os.Exit(0)
	}
	os.Exit(m.Run())
}
