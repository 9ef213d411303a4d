package lockboard_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
)

// TestUnplugMakesStatesUnknown: pulling the adapter (closing the pty's master end)
// makes every lock's state unknown at once, and the first fault the bus reports says
// so in words: "lock board bus <port> unplugged", not the system call that noticed.
func TestUnplugMakesStatesUnknown(t *testing.T) {
	r := newRig(t, lockboard.ProtocolCU16, []lockboardtest.BoardSpec{{Addr: 0}, {Addr: 3}}, nil)
	r.rec.waitChange(t, "initial", func(c lockboard.Change) bool { return c.Initial && c.Board == 3 })
	if _, err := r.bus.State(3, 1); err != nil {
		t.Fatalf("State before unplug: %v", err)
	}
	if err := r.set.Unplug(); err != nil {
		t.Fatal(err)
	}
	h := r.rec.waitHealth(t, "first fault after unplug", func(h lockboard.Health) bool { return !h.OK })
	if want := "lock board bus " + r.set.Path() + " unplugged"; h.Reason != want || h.PortOpen {
		t.Errorf("first fault after unplug %+v, want port closed with reason %q", h, want)
	}
	for _, board := range []int{0, 3} {
		if st, err := r.bus.State(board, 1); !errors.Is(err, lockboard.ErrNoState) {
			t.Errorf("State(%d, 1) while unplugged = %+v, %v; want ErrNoState", board, st, err)
		}
	}
	// Reopen attempts find no device: the reason stays the same, no flapping.
	if err := r.set.Replug(); err != nil {
		t.Fatal(err)
	}
	r.rec.waitHealth(t, "healthy after replug", func(h lockboard.Health) bool {
		if !h.OK && h.Reason != "lock board bus "+r.set.Path()+" unplugged" && !strings.Contains(h.Reason, "answered") {
			t.Errorf("health while replugging %+v: reason a technician cannot read", h)
		}
		return h.OK
	})
	if _, err := r.bus.State(3, 1); err != nil {
		t.Errorf("State after replug: %v", err)
	}
}

// TestReopenedPortHealthyOnlyOnceABoardAnswers: a port that opens again after an
// unplug may be another device (a reused /dev/ttyUSBn or pty): until the boards answer
// on it, the bus is not healthy and their states are unknown.
func TestReopenedPortHealthyOnlyOnceABoardAnswers(t *testing.T) {
	r := newRig(t, lockboard.ProtocolCU16, []lockboardtest.BoardSpec{{Addr: 0}}, nil)
	r.rec.waitChange(t, "initial", func(c lockboard.Change) bool { return c.Initial })
	if err := r.set.Unplug(); err != nil {
		t.Fatal(err)
	}
	r.rec.waitHealth(t, "port lost", func(h lockboard.Health) bool { return !h.PortOpen })
	// The device behind the link now answers nothing: someone else's adapter.
	if err := r.set.SetSilent(0, true); err != nil {
		t.Fatal(err)
	}
	if err := r.set.Replug(); err != nil {
		t.Fatal(err)
	}
	opened := r.rec.waitHealth(t, "port reopened", func(h lockboard.Health) bool {
		if h.OK {
			t.Fatalf("healthy before any board answered: %+v", h)
		}
		return h.PortOpen
	})
	if want := "lock board bus " + r.set.Path() + " opened; no board has answered yet"; opened.Reason != want {
		t.Errorf("reopened %+v, want reason %q", opened, want)
	}
	silent := r.rec.waitHealth(t, "no board answers", func(h lockboard.Health) bool {
		if h.OK {
			t.Fatalf("healthy with a silent board: %+v", h)
		}
		return len(h.Down) > 0
	})
	if !strings.HasPrefix(silent.Reason, "no board answered on "+r.set.Path()+" since ") {
		t.Errorf("silent bus %+v: want \"no board answered on %s since ...\"", silent, r.set.Path())
	}
	if _, err := r.bus.State(0, 1); !errors.Is(err, lockboard.ErrNoState) {
		t.Errorf("State of a board that has not answered = %v, want ErrNoState", err)
	}
	if err := r.set.SetSilent(0, false); err != nil {
		t.Fatal(err)
	}
	r.rec.waitHealth(t, "healthy once the board answers", healthy)
	if _, err := r.bus.State(0, 1); err != nil {
		t.Errorf("State once answered: %v", err)
	}
}
