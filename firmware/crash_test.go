package firmware_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/sim"
)

// crashKills is how many times TestCrashSafety SIGKILLs lockerd: 120 in `make test`
// (about three minutes, within CI's budget), 12 under -short, or LOCKERD_CRASH_KILLS
// for a longer soak (e.g. LOCKERD_CRASH_KILLS=2000 go test -run TestCrashSafety
// -timeout 3h ./firmware/).
func crashKills(t *testing.T) int {
	if v := os.Getenv("LOCKERD_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 {
			t.Fatalf("LOCKERD_CRASH_KILLS=%q: want a number of kills, at least 3", v)
		}
		return n
	}
	if testing.Short() {
		return 12
	}
	return 120
}

// quietEvery is how often the killer, instead of a random moment, waits for a
// deposit and a pickup to complete untouched before its next kill: a kill every few
// hundred milliseconds cuts nearly every operation, and a run that completes none
// proves nothing. It sets the progress floor: a run of k kills completes at least
// k/quietEvery deposits and as many pickups, however slow the machine.
const quietEvery = 3

// quietCap bounds one quiet window. A deposit or pickup takes about half a second
// (the virtual person holds the door 350 ms); a window that runs out means lockerd
// stopped completing operations, and the progress floor then fails.
const quietCap = 30 * time.Second

// TestCrashSafety runs lockerd as a separate process, drives deposits and pickups at
// it through its control socket while SIGKILLing it at random moments, and judges it
// by the physical world (crashWorld: the virtual boards' history):
//
//   - an operation that no kill touched must succeed, open the door the world
//     expects, and leave lockerd's whole inventory equal to the world once the door
//     has shut; any error from the station is a failure unless a kill fell within
//     the request;
//   - after every restart the operator's round finds lockerd's inventory equal to the
//     world except in compartments flagged unverified, each differing only by the
//     parcel its flag names; the operator resolves those with the truth;
//   - the run completes at least kills/quietEvery deposits and as many pickups;
//   - the stopped station's store and audit log agree with the world, parcel by
//     parcel (checkWorld).
//
// See crashKills for the number of kills.
func TestCrashSafety(t *testing.T) {
	target := int64(crashKills(t))
	const locks = 8
	cloud, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	st, err := sim.NewStation(sim.StationOptions{LockerID: "CRASH-01", Dir: t.TempDir(), Boards: 1, Locks: locks,
		Cloud: cloud, History: 1_000_000, // A person holds a door open far longer than one 150 ms poll, as people do.
		Person: lockboardtest.OpenThenClose(30*time.Millisecond, 350*time.Millisecond),
		Policy: config.Policy{DoorOpenTimeout: 3 * time.Second,
			CodeThrottle: config.Throttle{MaxFailures: 20, BaseDelay: 50 * time.Millisecond, MaxDelay: 100 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := newDaemon(t, st)
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
	cred, _ := cloud.CourierRequest(id.LockerID, "c-1", "CRASH-BADGE-ABCDEFGHIJKLMNOPQRSTU", "9031", locker.Rights{Deposit: true})
	if err := cl.UpsertCourier(ctx, cred); err != nil {
		t.Fatal(err)
	}
	w := newCrashWorld(locks)
	var batch []control.Announcement
	for range max(400, (target+99)/100*100) { // about half a deposit per kill: enough to never run out
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
	defer stopKiller() // also when the driver fails the test: no restart after it ends
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
	elapsed := time.Since(r.start).Round(time.Millisecond)
	t.Logf("%d kills in %v: %d operations, %d completed untouched (%d deposits, %d pickups), %d cut by a kill; "+
		"%d quiet windows; world: %d inside, %d taken, %d waiting",
		r.killing.Load(), elapsed, r.attempts, r.deposits.Load()+r.pickups.Load(), r.deposits.Load(), r.pickups.Load(),
		r.cut, r.quiet.Load(), w.inside(), len(w.taken), len(w.waiting))
	t.Logf("operator found present: %v; absent: %v", r.op.present, r.op.absent)
	floor := r.quiet.Load()
	if r.deposits.Load() < floor || r.pickups.Load() < floor {
		t.Errorf("progress: %d deposits and %d pickups completed untouched in %d kills; want at least %d of each (one per quiet window)",
			r.deposits.Load(), r.pickups.Load(), r.killing.Load(), floor)
	}

	// Quiesce: lockerd up, unknown outcomes settled as an operator would, then stopped cleanly.
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
	checkWorld(t, st, w)
	for _, f := range w.faults {
		t.Error(f)
	}
}

// crashRun is one TestCrashSafety run: the killer and the driver share it.
type crashRun struct {
	t      *testing.T
	d      *daemon
	st     *sim.Station
	w      *crashWorld
	op     *crashOperator
	target int64
	start  time.Time

	// killing counts kills begun, before the signal: a request that sees it unchanged
	// from its start to its end was not cut by a kill. started counts the restarts
	// finished after them.
	killing, started  atomic.Int64
	quiet             atomic.Int64 // quiet windows the killer kept
	deposits, pickups atomic.Int64 // operations completed untouched by a kill

	// The driver's own.
	last     crashOp // the operation last asked for, whose late door movements a restart may still show
	lastSeq  uint64  // the boards' last event before it
	attempts int
	cut      int
}

// killer lets lockerd run for a random moment, SIGKILLs it and starts it again, at
// once or after up to 700 ms. Of every quietEvery kills, one falls within 3 ms of a
// door's unlock and keeps lockerd down while the door opens and shuts, and one waits
// first for a deposit and a pickup to complete.
func (r *crashRun) killer(ctx context.Context, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	for k := int64(1); k <= r.target; k++ {
		if k%quietEvery == 0 {
			r.quiet.Add(1)
			d0, p0 := r.deposits.Load(), r.pickups.Load()
			deadline := time.Now().Add(quietCap)
			for (r.deposits.Load() == d0 || r.pickups.Load() == p0) && time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
		delay := time.Duration(50+rng.IntN(550)) * time.Millisecond
		if k%quietEvery == 1 {
			// As an unlock reaches a board, often before lockerd has polled the
			// released latch (a CU16's lock bit, read as the door sensor): the
			// moment whose outcome a restart cannot know.
			wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, _ = r.st.Boards.WaitEvent(wctx, r.st.Boards.LastSeq(), func(e lockboardtest.Event) bool { return e.Kind == lockboardtest.EventUnlock })
			cancel()
			delay = time.Duration(rng.IntN(3)) * time.Millisecond
		}
		select {
		case <-stop:
			return
		case <-time.After(delay):
		}
		r.killing.Add(1)
		r.d.kill()
		switch {
		case k%quietEvery == 1:
			// Down long enough for the person to open and shut the door: if lockerd
			// had not seen it open, the operation is unverified (ADR 0004).
			time.Sleep(time.Duration(400+rng.IntN(300)) * time.Millisecond)
		case rng.IntN(2) == 0:
			time.Sleep(time.Duration(rng.IntN(700)) * time.Millisecond) // down for a while, as after a power cut
		}
		if err := r.d.start(ctx); err != nil {
			r.t.Errorf("restart %d: %v", k, err)
			return
		}
		r.started.Add(1)
	}
}

// drive runs deposits and pickups until the killer is done, with the operator's round
// after each restart.
func (r *crashRun) drive(ctx context.Context) {
	t, w, cl := r.t, r.w, r.d.client
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	var session string
	resolved := int64(-1) // the kill count the operator's last round saw through
	for r.started.Load() < r.target && ctx.Err() == nil && !t.Failed() {
		e0 := r.killing.Load()
		if r.started.Load() != e0 {
			time.Sleep(10 * time.Millisecond) // lockerd is being restarted
			continue
		}
		if resolved != e0 {
			if _, err := w.observe(ctx, r.st.Boards, r.last); err != nil {
				t.Fatal(err)
			}
			err := r.op.round(ctx, cl, w)
			switch {
			case r.killing.Load() != e0:
				continue // cut by a kill: again once lockerd is back
			case err != nil:
				t.Fatalf("operator's round after restart %d, after the %s: %v%s", e0, r.last, err, r.evidence(r.lastSeq))
			}
			resolved, session = e0, ""
		}
		op := r.next(rng)
		r.last, r.attempts = op, r.attempts+1
		var slot locker.Slot
		var pickup locker.Pickup
		var opErr error
		if op.Deposit {
			if session == "" {
				session, opErr = cl.Login(ctx, "CRASH-BADGE-ABCDEFGHIJKLMNOPQRSTU", "9031")
			}
			if opErr == nil {
				slot, opErr = cl.Scan(ctx, session, w.parcels[op.Parcel].Tracking, "")
			}
		} else {
			pickup, opErr = cl.PickupCode(ctx, w.parcels[op.Parcel].Code, w.parcels[op.Parcel].Phone)
		}
		if opErr != nil {
			// A request cut by a kill may have left an unlock frame in the pty; give the
			// virtual board its reply delay to act on it before reading the history.
			time.Sleep(20 * time.Millisecond)
		}
		where, seq0 := w.where(op.Parcel), w.cursor
		r.lastSeq = seq0
		opened, err := w.observe(ctx, r.st.Boards, op)
		if err != nil {
			t.Fatal(err)
		}
		if r.killing.Load() != e0 {
			r.cut++
			session = ""
			continue
		}
		if opErr != nil {
			t.Fatalf("%s, with no kill during the request: %v%s", op, opErr, r.evidence(seq0))
		}
		if err := r.check(ctx, op, slot, pickup, where, opened); err != nil {
			if r.killing.Load() != e0 {
				r.cut++
				continue
			}
			t.Fatalf("%s, with no kill during it: %v%s", op, err, r.evidence(seq0))
		}
		if op.Deposit {
			r.deposits.Add(1)
		} else {
			r.pickups.Add(1)
		}
	}
}

// next picks the next operation: a deposit of a parcel still waiting while a
// compartment is physically free, or a pickup of a parcel physically inside.
func (r *crashRun) next(rng *rand.Rand) crashOp {
	w := r.w
	var full []int
	for x, ps := range w.phys {
		if len(ps) > 0 {
			full = append(full, x)
		}
	}
	slices.Sort(full)
	canDeposit := len(w.waiting) > 0 && len(full) < len(r.st.Config.Compartments)
	if canDeposit && (len(full) == 0 || rng.IntN(2) == 0) {
		return crashOp{Deposit: true, Parcel: w.waiting[rng.IntN(len(w.waiting))]}
	}
	if len(full) == 0 {
		r.t.Fatal("no parcel waiting and none inside: announce more parcels for this many kills")
	}
	return crashOp{Parcel: w.phys[full[rng.IntN(len(full))]][0]}
}

// check judges an operation no kill touched: its answer named the door the world
// expects, exactly that door opened, and once it shut lockerd's inventory equals the
// world.
func (r *crashRun) check(ctx context.Context, op crashOp, slot locker.Slot, pickup locker.Pickup, where int, opened []int) error {
	var want int
	if op.Deposit {
		want = int(slot.Compartment)
		if slot.Parcel != locker.ParcelID(op.Parcel) {
			return fmt.Errorf("scan answered %+v", slot)
		}
	} else {
		want = where
		if len(pickup.Failed) > 0 || len(pickup.Slots) != 1 || int(pickup.Slots[0].Compartment) != where {
			return fmt.Errorf("code answered %+v; the parcel is in %d", pickup, where)
		}
	}
	if !slices.Equal(opened, []int{want}) {
		return fmt.Errorf("doors %v opened; want %d", opened, want)
	}
	if err := waitIdle(ctx, r.d.client); err != nil {
		return err
	}
	inv, err := r.d.client.Inventory(ctx)
	if err != nil {
		return err
	}
	if diff := r.w.compareInventory(inv, false); len(diff) > 0 {
		return errors.Join(errMismatch, fmt.Errorf("%v", diff))
	}
	return nil
}

// evidence is what a failure message shows besides the verdict: the boards' events
// since seq and the end of lockerd's log.
func (r *crashRun) evidence(seq uint64) string {
	var b strings.Builder
	b.WriteString("\nboard events since the operation began:")
	for _, e := range r.st.Boards.History() {
		if e.Seq > seq {
			fmt.Fprintf(&b, "\n  %v", e)
		}
	}
	log, err := os.ReadFile(r.d.logPath)
	if err != nil {
		return b.String()
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	b.WriteString("\nlockerd's log, last lines:")
	for _, l := range lines[max(0, len(lines)-25):] {
		b.WriteString("\n  " + l)
	}
	return b.String()
}
