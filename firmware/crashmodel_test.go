package firmware_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store/boltstore"
	"github.com/lockerd/lockerd/sim"
)

// The model of the physical world that the crash test (and any test that stops
// lockerd abruptly, such as a power cut) judges lockerd by, and the invariants it
// checks. Nothing here reads lockerd's belief to build the model: the model is made
// from what the test did and from the virtual boards' own history of unlocks and door
// movements. lockerd's inventory, store and audit log are only compared with it.

// crashWorld is the physical truth: which parcel is really behind which door.
type crashWorld struct {
	locks   int // locks per board: compartment = board*locks + lock
	parcels map[string]sim.Parcel
	waiting []string         // announced and still in the courier's hands
	phys    map[int][]string // compartment -> parcels physically inside
	taken   map[string]bool  // physically taken out by their recipient
	cursor  uint64           // the last board event observed
	faults  []string         // physical impossibilities seen on the way (two parcels in one door, ...)
}

func newCrashWorld(locks int) *crashWorld {
	return &crashWorld{locks: locks, parcels: map[string]sim.Parcel{}, phys: map[int][]string{}, taken: map[string]bool{}}
}

func (w *crashWorld) fault(format string, args ...any) {
	w.faults = append(w.faults, fmt.Sprintf(format, args...))
}

// crashOp is an operation a test asked for: a deposit of Parcel, a pickup of Parcel
// (by its code), or none (Parcel ""), when no door may open.
type crashOp struct {
	Deposit bool
	Parcel  string
}

func (op crashOp) String() string {
	switch {
	case op.Parcel == "":
		return "no operation"
	case op.Deposit:
		return "deposit of " + op.Parcel
	}
	return "pickup of " + op.Parcel
}

// observe reads the boards' history since the last observation, waits for each door
// unlocked there to be shut again by the virtual person, and records what moved, as
// op's person does it: a courier puts op's parcel behind the door, a recipient takes
// whatever is behind it. It returns the compartments that opened.
func (w *crashWorld) observe(ctx context.Context, boards *lockboardtest.Set, op crashOp) ([]int, error) {
	var opened []int
	for _, e := range boards.History() {
		if e.Seq <= w.cursor {
			continue
		}
		w.cursor = e.Seq
		if e.Kind != lockboardtest.EventUnlock {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := boards.WaitEvent(wctx, e.Seq, lockboardtest.Is(lockboardtest.EventDoorClose, e.Board, e.Lock))
		cancel()
		if err != nil {
			return opened, fmt.Errorf("door %d/%d never shut after its unlock: %w", e.Board, e.Lock, err)
		}
		x := e.Board*w.locks + e.Lock
		opened = append(opened, x)
		switch {
		case op.Parcel == "":
			w.fault("compartment %d unlocked with no operation under way", x)
		case op.Deposit:
			if len(w.phys[x]) > 0 {
				w.fault("compartment %d opened for the %s while holding %v", x, op, w.phys[x])
			}
			w.phys[x] = append(w.phys[x], op.Parcel)
			w.waiting = slices.DeleteFunc(w.waiting, func(s string) bool { return s == op.Parcel })
		default:
			if !slices.Contains(w.phys[x], op.Parcel) {
				w.fault("compartment %d opened for the %s, which is in %d", x, op, w.where(op.Parcel))
			}
			for _, p := range w.phys[x] {
				w.taken[p] = true
			}
			w.phys[x] = nil
		}
	}
	return opened, nil
}

// where is the compartment parcel pid is physically in, 0 when none.
func (w *crashWorld) where(pid string) int {
	for x, ps := range w.phys {
		if slices.Contains(ps, pid) {
			return x
		}
	}
	return 0
}

func (w *crashWorld) inside() int {
	n := 0
	for _, ps := range w.phys {
		n += len(ps)
	}
	return n
}

// compareInventory lists where lockerd's inventory differs from the physical world.
// Every compartment must be idle, hold exactly the parcels physically inside it, all
// deposited, with no fault; except that, with flagged true, a compartment flagged
// unverified (ADR 0004, ADR 0034) may differ by the very parcel its flag names: a
// deposit that did not go in, or a pickup that did take it out, while lockerd was
// down. That flag is the only excuse for a parcel taken out but still recorded
// inside.
func (w *crashWorld) compareInventory(inv []locker.CompartmentView, flagged bool) []string {
	var out []string
	seen := map[int]bool{}
	for _, c := range inv {
		x := int(c.ID)
		seen[x] = true
		believed := make([]string, 0, len(c.Parcels))
		for _, p := range c.Parcels {
			believed = append(believed, string(p))
		}
		phys := slices.Clone(w.phys[x])
		excused := flagged && c.Fault == locker.FaultUnverified
		if excused {
			u := string(c.UnverifiedParcel)
			believed = slices.DeleteFunc(believed, func(s string) bool { return s == u })
			phys = slices.DeleteFunc(phys, func(s string) bool { return s == u })
		}
		slices.Sort(believed)
		slices.Sort(phys)
		switch {
		case c.Op != locker.OpNone:
			out = append(out, fmt.Sprintf("compartment %d: operation %q still under way", x, c.Op))
		case c.Fault != "" && !excused:
			out = append(out, fmt.Sprintf("compartment %d: fault %q (unverified %s of %q)", x, c.Fault, c.UnverifiedOp, c.UnverifiedParcel))
		case !slices.Equal(believed, phys):
			out = append(out, fmt.Sprintf("compartment %d: lockerd says it holds %v, it physically holds %v", x, c.Parcels, w.phys[x]))
		}
		for i, s := range c.ParcelStates {
			if s != locker.StateDeposited && !(excused && c.Parcels[i] == c.UnverifiedParcel) {
				out = append(out, fmt.Sprintf("compartment %d: parcel %s is %s", x, c.Parcels[i], s))
			}
		}
	}
	for x, ps := range w.phys {
		if len(ps) > 0 && !seen[x] {
			out = append(out, fmt.Sprintf("compartment %d holds %v but is not in the inventory", x, ps))
		}
	}
	return out
}

// crashOperator plays the operator who, after each restart, looks into every
// compartment lockerd flagged unverified and reports what is really inside. It counts
// what it found, by the flagged operation.
type crashOperator struct {
	present, absent map[locker.Op]int
}

func newCrashOperator() *crashOperator {
	return &crashOperator{present: map[locker.Op]int{}, absent: map[locker.Op]int{}}
}

// errMismatch marks a difference between lockerd's belief and the physical world, as
// opposed to a request cut by a kill.
var errMismatch = errors.New("lockerd's inventory differs from the physical world")

// round waits for lockerd to finish the operations its restart continued, checks its
// inventory against the world allowing only flagged differences, resolves each flag
// with the truth, and checks the inventory again with no allowance.
func (o *crashOperator) round(ctx context.Context, cl *control.Client, w *crashWorld) error {
	if err := waitIdle(ctx, cl); err != nil {
		return err
	}
	inv, err := cl.Inventory(ctx)
	if err != nil {
		return err
	}
	if diff := w.compareInventory(inv, true); len(diff) > 0 {
		return fmt.Errorf("%w before the operator's look: %v", errMismatch, diff)
	}
	for _, c := range inv {
		if c.Fault != locker.FaultUnverified {
			continue
		}
		present := slices.Contains(w.phys[int(c.ID)], string(c.UnverifiedParcel))
		if err := cl.Resolve(ctx, control.ResolveRequest{Compartment: int(c.ID), Present: present, Operator: "crash-test"}); err != nil {
			return err
		}
		if present {
			o.present[c.UnverifiedOp]++
		} else {
			o.absent[c.UnverifiedOp]++
		}
	}
	if inv, err = cl.Inventory(ctx); err != nil {
		return err
	}
	if diff := w.compareInventory(inv, false); len(diff) > 0 {
		return fmt.Errorf("%w after the operator's look: %v", errMismatch, diff)
	}
	return nil
}

// waitIdle polls until no door operation is under way: the last door shut has been
// polled and committed.
func waitIdle(ctx context.Context, cl *control.Client) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		inv, err := cl.Inventory(ctx)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(inv, func(c locker.CompartmentView) bool { return c.Op != locker.OpNone }) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("door operations still under way after 10s")
}

type noHardware struct{}

func (noHardware) Unlock(context.Context, locker.CompartmentID) error { return errors.New("read-only") }
func (noHardware) DoorOpen(locker.CompartmentID) (bool, bool)         { return false, false }

// checkWorld opens the stopped station's store and compares it with the physical
// world, with no allowance: after the operator's last round every parcel is where the
// world says, in the state that follows from it; the audit chain verifies; and the
// audit log records each parcel's deposit and pickup exactly as often as the boards
// saw it happen (once, or never), so that neither a lost nor a doubled transition
// hides behind a right final state.
func checkWorld(t *testing.T, st *sim.Station, w *crashWorld) {
	t.Helper()
	if n, err := firmware.VerifyAudit(st.Config); err != nil || n == 0 {
		t.Fatalf("audit chain: %d entries, %v", n, err)
	}
	_, keys, err := firmware.Secrets(st.Config)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := privacy.OpenKeyring(st.Config.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Close()
	specs := make([]locker.CompartmentSpec, 0, len(st.Config.Compartments))
	for _, c := range st.Config.Compartments {
		specs = append(specs, locker.CompartmentSpec{ID: locker.CompartmentID(c.ID), Size: locker.SizeS, Kind: locker.KindDoor})
	}
	s, err := locker.Open(locker.Options{LockerID: st.ID, StorePath: firmware.StorePath(st.Config), OpenStore: boltstore.Open, Compartments: specs,
		Policy: locker.DefaultPolicy(), Keys: keys, Keyring: kr, Unlocker: noHardware{}, Doors: noHardware{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inv, err := s.Inventory()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range w.compareInventory(inv, false) {
		t.Error(d)
	}
	want := map[locker.ParcelState]int{}
	for pid := range w.parcels {
		where := w.where(pid)
		state := locker.StateAnnounced
		switch {
		case where != 0:
			state = locker.StateDeposited
		case w.taken[pid]:
			state = locker.StatePickedUp
		}
		want[state]++
		p, err := s.ParcelInfo(locker.ParcelID(pid))
		switch {
		case err != nil:
			t.Errorf("parcel %s lost from the store: %v", pid, err)
		case p.State != state || int(p.Compartment) != where:
			t.Errorf("parcel %s: lockerd says %s in %d; physically %s in %d", pid, p.State, p.Compartment, state, where)
		}
	}
	status, err := s.Status()
	if err != nil {
		t.Fatal(err)
	}
	for state, n := range status.Parcels {
		if want[state] != n {
			t.Errorf("lockerd holds %d parcels %s; the world has %d", n, state, want[state])
		}
	}
	checkAuditHistory(t, s, w)
}

// checkAuditHistory counts each parcel's deposited and picked_up entries in the audit
// log: one deposit for every parcel that went in (inside now, or taken), one pickup
// for every parcel taken, none otherwise; and no jammed or forced door.
func checkAuditHistory(t *testing.T, s *locker.Station, w *crashWorld) {
	t.Helper()
	deposited, pickedUp := map[string]int{}, map[string]int{}
	alarms := map[locker.EventType]int{}
	for from := uint64(1); ; {
		evs, err := s.AuditRange(from, math.MaxUint64, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			switch e.Type {
			case locker.EvDeposited:
				deposited[string(e.Parcel)]++
			case locker.EvPickedUp:
				pickedUp[string(e.Parcel)]++
			case locker.EvJammed, locker.EvForced:
				alarms[e.Type]++
			}
			from = e.Seq + 1
		}
		if len(evs) < 1000 {
			break
		}
	}
	for pid := range w.parcels {
		wantDeposit, wantPickup := 0, 0
		if w.where(pid) != 0 || w.taken[pid] {
			wantDeposit = 1
		}
		if w.taken[pid] {
			wantPickup = 1
		}
		if deposited[pid] != wantDeposit || pickedUp[pid] != wantPickup {
			t.Errorf("parcel %s: audit log has %d deposited and %d picked_up entries; the boards saw %d and %d",
				pid, deposited[pid], pickedUp[pid], wantDeposit, wantPickup)
		}
	}
	for typ, n := range alarms {
		t.Errorf("%d %s alarms: the virtual person opens every unlocked door and nobody forces one", n, typ)
	}
}
