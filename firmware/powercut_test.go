// go-fuse, which lazyfs serves the state directory with, builds for 64-bit Linux only.

//go:build linux && (amd64 || arm64)

package firmware_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/internal/lazyfs"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/sim"
)

// powerCuts is how many power cuts TestPowerCut makes: 105 in `make test` (about
// three minutes), 12 under -short, or LOCKERD_POWER_CUTS for a longer soak (e.g.
// LOCKERD_POWER_CUTS=2000 go test -run TestPowerCut -timeout 3h ./firmware/).
func powerCuts(t *testing.T) int {
	if v := os.Getenv("LOCKERD_POWER_CUTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 {
			t.Fatalf("LOCKERD_POWER_CUTS=%q: want a number of cuts, at least 3", v)
		}
		return n
	}
	if testing.Short() {
		return 12
	}
	return 105
}

// TestPowerCut is TestCrashSafety with power cuts instead of process crashes. A
// SIGKILL leaves the kernel's page cache to finish every write, so a store that never
// fsyncs survives it; here lockerd's state directory is a lazyfs mount (a FUSE
// filesystem that keeps in memory what was not fsync'd), and each kill is followed by
// a cut: lazyfs throws away every write, create, rename and unlink that no fsync made
// durable (file data by an fsync of the file, directory entries by an fsync of the
// directory), and lockerd restarts on what a disk would hold. The store, the identity
// key and the keyring all live there. The scenario, the operator and every invariant
// are TestCrashSafety's (crashRun, crashWorld, checkWorld), plus one: after the last
// clean stop, one more cut changes nothing that checkWorld sees.
//
// Broken on purpose, it fails at the first cut: with bbolt opened NoSync: true
// (locker.Open) the cut takes back every commit since the store was created, and the
// operator's round finds a parcel physically inside that lockerd's inventory lacks;
// with writeKeyFile (locker/privacy) skipping the directory fsync after its rename,
// the cut takes back the keyring's last rename, its name finds the superseded file the
// writer had zeroed and synced, and lockerd refuses to start ("keyring file has a bad
// magic"). TestCrashSafety's SIGKILLs see neither: the page cache keeps the writes.
//
// It needs FUSE (/dev/fuse and fusermount3, Debian's fuse3): without it, it skips,
// except under CI=true, where it fails.
func TestPowerCut(t *testing.T) {
	target := int64(powerCuts(t))
	lazyfs.Require(t)
	const locks = 8
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state") // where sim.NewStation puts lockerd's state
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mnt, err := lazyfs.New().Mount(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mnt.Unmount(); err != nil {
			t.Error(err)
		}
	})
	cloud, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	st, err := sim.NewStation(sim.StationOptions{LockerID: "POWER-01", Dir: dir, Boards: 1, Locks: locks,
		Cloud: cloud, History: 1_000_000, // as in TestCrashSafety
		Person: lockboardtest.OpenThenClose(30*time.Millisecond, 350*time.Millisecond),
		Policy: config.Policy{DoorOpenTimeout: 3 * time.Second,
			CodeThrottle: config.Throttle{MaxFailures: 20, BaseDelay: 50 * time.Millisecond, MaxDelay: 100 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Config.StateDir != stateDir {
		t.Fatalf("station state in %s, not on the lazyfs mount %s", st.Config.StateDir, stateDir)
	}
	d := newDaemon(t, st)
	t.Cleanup(func() {
		// A restart that fails says why only in lockerd's log, which goes with the test.
		if b, err := os.ReadFile(d.logPath); t.Failed() && err == nil {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			t.Logf("lockerd's log, last lines:\n%s", strings.Join(lines[max(0, len(lines)-8):], "\n"))
		}
	})
	var cutMu sync.Mutex
	d.afterKill = func() {
		cutMu.Lock()
		defer cutMu.Unlock()
		if err := mnt.PowerCut(); err != nil {
			t.Errorf("power cut: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(target)*3*time.Second+5*time.Minute)
	defer cancel()
	if err := d.start(ctx); err != nil {
		t.Fatal(err)
	}
	cl := d.client
	id, err := cl.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cloud.Enrol(id.LockerID, id.Public); err != nil {
		t.Fatal(err)
	}
	cred, _ := cloud.CourierRequest(id.LockerID, "c-1", "CRASH-BADGE-ABCDEFGHIJKLMNOPQRSTU", "9031", locker.Rights{Deposit: true}) // the badge crashRun logs in with
	if err := cl.UpsertCourier(ctx, cred); err != nil {
		t.Fatal(err)
	}
	w := newCrashWorld(locks)
	var batch []control.Announcement
	for range 400 {
		p := cloud.NewParcel("S")
		w.parcels[p.ID], w.waiting = p, append(w.waiting, p.ID)
		a, err := cloud.Announcement(id.LockerID, p)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, a)
	}
	for chunk := range slices.Chunk(batch, 100) {
		if rep, err := cl.Announce(ctx, chunk); err != nil || slices.ContainsFunc(rep.Errors, func(s string) bool { return s != "" }) {
			t.Fatalf("announce: %v %v", err, rep.Errors)
		}
	}

	r := &crashRun{t: t, d: d, st: st, w: w, op: newCrashOperator(), target: target, start: time.Now()}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	stopKiller := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopKiller()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.killer(ctx, stop)
	}()
	r.drive(ctx)
	stopKiller()
	if t.Failed() {
		return
	}
	stats := mnt.FS().Stats()
	t.Logf("%d power cuts in %v: %d operations, %d completed untouched (%d deposits, %d pickups), %d cut; "+
		"lazyfs: %d file and %d directory fsyncs, %d files and %d directories lost unsynced changes at a cut; "+
		"world: %d inside, %d taken, %d waiting",
		stats.Cuts, time.Since(r.start).Round(time.Millisecond), r.attempts, r.deposits.Load()+r.pickups.Load(),
		r.deposits.Load(), r.pickups.Load(), r.cut, stats.FileSyncs, stats.DirSyncs, stats.LostFiles, stats.LostDirs,
		w.inside(), len(w.taken), len(w.waiting))
	t.Logf("operator found present: %v; absent: %v", r.op.present, r.op.absent)
	if int64(stats.Cuts) < target {
		t.Errorf("%d power cuts, want %d", stats.Cuts, target)
	}
	if stats.FileSyncs == 0 || stats.DirSyncs == 0 {
		t.Errorf("lockerd fsynced %d files and %d directories on the mount: its state is not there", stats.FileSyncs, stats.DirSyncs)
	}
	if floor := r.quiet.Load(); r.deposits.Load() < floor || r.pickups.Load() < floor {
		t.Errorf("progress: %d deposits and %d pickups completed untouched in %d cuts; want at least %d of each",
			r.deposits.Load(), r.pickups.Load(), stats.Cuts, floor)
	}

	// Quiesce as TestCrashSafety does, then one more cut after the clean stop.
	d.afterKill = nil
	if !d.running() {
		if err := d.start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.observe(ctx, st.Boards, r.last); err != nil {
		t.Fatal(err)
	}
	if err := r.op.round(ctx, cl, w); err != nil {
		t.Fatal(err)
	}
	d.stop()
	if err := mnt.PowerCut(); err != nil {
		t.Fatal(err)
	}
	// checkWorld opens the store with bbolt, which maps the file into memory: this
	// process serves the mount and must not fault on its pages, so it reads a copy.
	checkWorld(t, stationCopy(t, st), w)
	for _, f := range w.faults {
		t.Error(f)
	}
}

// stationCopy copies st's state directory (flat: the store and the key files) out of
// the mount and returns st pointing at the copy.
func stationCopy(t *testing.T, st *sim.Station) *sim.Station {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(st.Config.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			t.Fatalf("unexpected %s in the state directory", e.Name())
		}
		data, err := os.ReadFile(filepath.Join(st.Config.StateDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := *st.Config
	cfg.StateDir = dst
	cp := *st
	cp.Config = &cfg
	return &cp
}

// TestPowerCutNewStore cuts the power right after lockerd created its store on a
// station that already has its key files (the store was moved away, say): then no
// key-file write syncs the state directory for it, and only the store's own directory
// fsync keeps the new store's name. Without it the cut takes back the whole store, and
// the courier provisioned before the cut is gone.
func TestPowerCutNewStore(t *testing.T) {
	lazyfs.Require(t)
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mnt, err := lazyfs.New().Mount(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mnt.Unmount(); err != nil {
			t.Error(err)
		}
	})
	cloud, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	st, err := sim.NewStation(sim.StationOptions{LockerID: "POWER-02", Dir: dir, Boards: 1, Locks: 2, Cloud: cloud})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := newDaemon(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.start(ctx); err != nil { // creates the identity, the keyring and its first key
		t.Fatal(err)
	}
	d.stop()
	if err := os.Remove(filepath.Join(stateDir, "station.db")); err != nil {
		t.Fatal(err)
	}
	syncDirOf(t, stateDir)
	if err := d.start(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := d.client.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cloud.Enrol(id.LockerID, id.Public); err != nil {
		t.Fatal(err)
	}
	cred, _ := cloud.CourierRequest(id.LockerID, "c-1", "CUT-BADGE-ABCDEFGHIJKLMNOPQRSTU", "4711", locker.Rights{Deposit: true})
	if err := d.client.UpsertCourier(ctx, cred); err != nil {
		t.Fatal(err)
	}
	d.kill()
	if err := mnt.PowerCut(); err != nil {
		t.Fatal(err)
	}
	if err := d.start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.client.Login(ctx, "CUT-BADGE-ABCDEFGHIJKLMNOPQRSTU", "4711"); err != nil {
		t.Fatalf("the courier provisioned before the cut: %v", err)
	}
	d.stop()
}

func syncDirOf(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}
