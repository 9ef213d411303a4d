package lockboard_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
)

func TestBusReportsInitialStateAndChanges(t *testing.T) {
	tests := []struct {
		name  string
		proto lockboard.Protocol
		spec  lockboardtest.BoardSpec
	}{
		{"cu16 set-closed", lockboard.ProtocolCU16, lockboardtest.BoardSpec{Addr: 0}},
		{"cu16 set-open", lockboard.ProtocolCU16, lockboardtest.BoardSpec{Addr: 3, Polarity: lockboard.SetMeansOpen}},
		{"cu16 door sensors", lockboard.ProtocolCU16, lockboardtest.BoardSpec{Addr: 1, DoorSensors: true, SensorPolarity: lockboard.SetMeansOpen}},
		{"8a set-closed", lockboard.Protocol8A, lockboardtest.BoardSpec{Addr: 1}},
		{"8a set-open 12 locks", lockboard.Protocol8A, lockboardtest.BoardSpec{Addr: 7, Locks: 12, Polarity: lockboard.SetMeansOpen}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.proto, []lockboardtest.BoardSpec{tt.spec}, nil)
			locks := tt.spec.Locks
			if locks == 0 {
				locks = tt.proto.MaxLocks()
			}
			seen := map[int]bool{}
			for len(seen) < locks {
				c := r.rec.waitChange(t, "initial state", func(c lockboard.Change) bool { return c.Initial })
				if c.LockOpen || c.DoorOpen || c.HasDoor != tt.spec.DoorSensors || c.Board != tt.spec.Addr {
					t.Fatalf("initial change %+v: want closed lock on board %d, HasDoor=%v", c, tt.spec.Addr, tt.spec.DoorSensors)
				}
				seen[c.Lock] = true
			}
			if err := r.set.SetDoor(tt.spec.Addr, locks, true); err != nil {
				t.Fatal(err)
			}
			c := r.rec.waitChange(t, "forced open", isChange(tt.spec.Addr, locks, true))
			if c.Initial || c.DoorOpen != tt.spec.DoorSensors {
				t.Errorf("forced open change %+v: want DoorOpen=%v", c, tt.spec.DoorSensors)
			}
			st, err := r.bus.State(tt.spec.Addr, locks)
			if err != nil || !st.LockOpen {
				t.Errorf("State after change = %+v, %v; want open", st, err)
			}
			if err := r.set.SetDoor(tt.spec.Addr, locks, false); err != nil {
				t.Fatal(err)
			}
			r.rec.waitChange(t, "shut again", isChange(tt.spec.Addr, locks, false))
		})
	}
}

func TestUnlockFollowsPersonPolicy(t *testing.T) {
	r := newRig(t, lockboard.ProtocolCU16, []lockboardtest.BoardSpec{{Addr: 0}, {Addr: 1, DoorSensors: true}}, nil)
	// Open for far longer than a poll (20 ms): the bus reports what its polls see,
	// and a door open for 60 ms was missed when a loaded machine stalled the poller.
	r.set.SetPolicy(lockboardtest.OpenThenClose(30*time.Millisecond, 300*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := r.bus.Unlock(ctx, 1, 3); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	r.rec.waitChange(t, "lock released", isChange(1, 3, true))
	r.rec.waitChange(t, "door opened", func(c lockboard.Change) bool { return c.Board == 1 && c.Lock == 3 && c.DoorOpen })
	r.rec.waitChange(t, "door shut and latched", func(c lockboard.Change) bool {
		return c.Board == 1 && c.Lock == 3 && !c.DoorOpen && !c.LockOpen
	})
	if n := countKind(r.set.History(), lockboardtest.EventUnlock); n != 1 {
		t.Errorf("board saw %d unlock commands, want 1", n)
	}
}

func TestUnlockResults(t *testing.T) {
	dropUnlockReplies := func(req lockboard.Request, reply []byte) []byte {
		if req.Op == lockboard.OpUnlock {
			return nil
		}
		return reply
	}
	tests := []struct {
		name    string
		proto   lockboard.Protocol
		policy  lockboardtest.Policy
		hook    func(lockboard.Request, []byte) []byte
		board   int
		lock    int
		wantErr error
		unlocks int // commands the board must have seen
	}{
		{"cu16 acknowledged", lockboard.ProtocolCU16, nil, nil, 2, 16, nil, 1},
		{"8a acknowledged", lockboard.Protocol8A, nil, nil, 2, 24, nil, 1},
		{"jammed lock is still acknowledged", lockboard.ProtocolCU16, lockboardtest.Jammed(), nil, 2, 1, nil, 1},
		{"lost reply confirmed by status", lockboard.ProtocolCU16, nil, dropUnlockReplies, 2, 5, nil, 1},
		{"8a lost reply confirmed by status", lockboard.Protocol8A, nil, dropUnlockReplies, 2, 5, nil, 1},
		{"lost reply on jammed lock is unconfirmed, not resent", lockboard.ProtocolCU16, lockboardtest.Jammed(), dropUnlockReplies, 2, 5, lockboard.ErrUnconfirmed, 1},
		{"unknown board", lockboard.ProtocolCU16, nil, nil, 9, 1, lockboard.ErrUnknownLock, 0},
		{"lock beyond board", lockboard.Protocol8A, nil, nil, 2, 25, lockboard.ErrUnknownLock, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.proto, []lockboardtest.BoardSpec{{Addr: 2}}, nil)
			if tt.policy != nil {
				r.set.SetPolicy(tt.policy)
			}
			r.set.SetReplyHook(tt.hook)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			err := r.bus.Unlock(ctx, tt.board, tt.lock)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Unlock = %v, want %v", err, tt.wantErr)
			}
			if n := countKind(r.set.History(), lockboardtest.EventUnlock); n != tt.unlocks {
				t.Errorf("board saw %d unlock commands, want %d", n, tt.unlocks)
			}
		})
	}
}

func TestUnlockCancelledWhileQueuedIsNotSent(t *testing.T) {
	r := newRig(t, lockboard.ProtocolCU16, []lockboardtest.BoardSpec{{Addr: 0}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.bus.Unlock(ctx, 0, 1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Unlock with cancelled context = %v, want context.Canceled", err)
	}
	// A later unlock goes through, and it is the only one the board saw.
	ctx2, cancel2 := context.WithTimeout(context.Background(), waitLimit)
	defer cancel2()
	if err := r.bus.Unlock(ctx2, 0, 2); err != nil {
		t.Fatal(err)
	}
	h := r.set.History()
	if n := countKind(h, lockboardtest.EventUnlock); n != 1 {
		t.Errorf("board saw %d unlocks, want 1: %v", n, h)
	}
}

func countKind(h []lockboardtest.Event, k lockboardtest.EventKind) int {
	n := 0
	for _, e := range h {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// TestCloseIsNoBusFault: closing a polling bus logs and reports no fault: a cycle
// cut short by the close is not a port error (found by a review: "closing port:
// context canceled" and a bus fault at one clean shutdown in six).
func TestCloseIsNoBusFault(t *testing.T) {
	for i := range 40 {
		var logs lockedBuffer
		r := newRig(t, lockboard.ProtocolCU16, []lockboardtest.BoardSpec{{Addr: 0}}, func(c *lockboard.Config) {
			c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})
		r.rec.waitChange(t, "initial state", func(c lockboard.Change) bool { return c.Initial })
		time.Sleep(time.Duration(i%20) * time.Millisecond) // at every point of a 20 ms poll cycle
		if err := r.bus.Close(); err != nil {
			t.Fatal(err)
		}
		if out := logs.String(); strings.Contains(out, "closing port") || strings.Contains(out, "bus fault") {
			t.Fatalf("a clean close logged a fault:\n%s", out)
		}
	}
}

// lockedBuffer is a log sink safe for the bus's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
