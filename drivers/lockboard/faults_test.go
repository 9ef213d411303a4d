package lockboard_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
)

// everyNth returns a reply hook that replaces every nth status reply with
// mangle(reply) and counts how often it did.
func everyNth(n int64, mangled *atomic.Int64, mangle func([]byte) []byte) func(lockboard.Request, []byte) []byte {
	var count atomic.Int64
	return func(req lockboard.Request, reply []byte) []byte {
		if req.Op != lockboard.OpStatus || count.Add(1)%n != 0 {
			return reply
		}
		mangled.Add(1)
		return mangle(slices.Clone(reply))
	}
}

func TestBadRepliesAreRetriedAndCounted(t *testing.T) {
	tests := []struct {
		name   string
		proto  lockboard.Protocol
		mangle func([]byte) []byte
		stat   func(lockboard.Stats) uint64
	}{
		{"cu16 wrong checksum", lockboard.ProtocolCU16, func(b []byte) []byte { b[len(b)-1]++; return b },
			func(s lockboard.Stats) uint64 { return s.Checksum }},
		{"8a wrong checksum", lockboard.Protocol8A, func(b []byte) []byte { b[len(b)-1] ^= 0x40; return b },
			func(s lockboard.Stats) uint64 { return s.Checksum }},
		{"cu16 garbled end byte", lockboard.ProtocolCU16, func(b []byte) []byte { b[7] = 0x55; return b },
			func(s lockboard.Stats) uint64 { return s.Malformed }},
		{"cu16 short", lockboard.ProtocolCU16, func(b []byte) []byte { return b[:6] },
			func(s lockboard.Stats) uint64 { return s.Timeouts }},
		{"8a short", lockboard.Protocol8A, func(b []byte) []byte { return b[:3] },
			func(s lockboard.Stats) uint64 { return s.Timeouts }},
		{"cu16 wrong address", lockboard.ProtocolCU16, func(b []byte) []byte {
			b[1] ^= 0x10
			b[8] = 0
			for _, c := range b[:8] {
				b[8] += c
			}
			return b
		}, func(s lockboard.Stats) uint64 { return s.Mismatched }},
		{"8a wrong address", lockboard.Protocol8A, func(b []byte) []byte {
			b[1] ^= 0x04
			b[6] ^= 0x04 // XOR checksum follows the flipped bit
			return b
		}, func(s lockboard.Stats) uint64 { return s.Mismatched }},
		{"cu16 oversized with noise around", lockboard.ProtocolCU16, func(b []byte) []byte {
			return append(append([]byte{0xff, 0x02, 0x99}, b...), 0x02, 0x00)
		}, func(s lockboard.Stats) uint64 { return s.Malformed }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.proto, []lockboardtest.BoardSpec{{Addr: 1}}, nil)
			var mangled atomic.Int64
			r.set.SetReplyHook(everyNth(2, &mangled, tt.mangle))
			// Forced changes still arrive while every other reply is bad.
			for _, open := range []bool{true, false, true} {
				if err := r.set.SetDoor(1, 4, open); err != nil {
					t.Fatal(err)
				}
				r.rec.waitChange(t, "change through bad replies", isChange(1, 4, open))
			}
			if mangled.Load() == 0 || tt.stat(r.bus.Stats()) == 0 {
				t.Errorf("mangled %d replies, stats %+v: want the bad ones counted", mangled.Load(), r.bus.Stats())
			}
			if h := r.bus.Health(); !h.OK {
				t.Errorf("health %+v: one bad reply in two must be absorbed by retries", h)
			}
		})
	}
}

func TestSilentBoardIsAFaultThatClears(t *testing.T) {
	r := newRig(t, lockboard.ProtocolCU16, []lockboardtest.BoardSpec{{Addr: 0}, {Addr: 5}}, nil)
	if err := r.set.SetSilent(5, true); err != nil {
		t.Fatal(err)
	}
	h := r.rec.waitHealth(t, "board 5 down", func(h lockboard.Health) bool { return !h.OK })
	if !h.PortOpen || !slices.Equal(h.Down, []int{5}) || h.Reason != "board 5 on "+r.set.Path()+" not responding" {
		t.Errorf("health %+v: want port open, board 5 down", h)
	}
	// The other board keeps working meanwhile.
	if err := r.set.SetDoor(0, 1, true); err != nil {
		t.Fatal(err)
	}
	r.rec.waitChange(t, "board 0 still polled", isChange(0, 1, true))
	if err := r.set.SetSilent(5, false); err != nil {
		t.Fatal(err)
	}
	r.rec.waitHealth(t, "board 5 back", healthy)
}

func TestUnplugAndReplug(t *testing.T) {
	r := newRig(t, lockboard.ProtocolCU16, []lockboardtest.BoardSpec{{Addr: 0}}, nil)
	r.rec.waitChange(t, "initial", func(c lockboard.Change) bool { return c.Initial })
	if err := r.set.Unplug(); err != nil {
		t.Fatal(err)
	}
	h := r.rec.waitHealth(t, "port lost", func(h lockboard.Health) bool { return !h.PortOpen })
	if h.OK || h.Reason == "" {
		t.Errorf("health after unplug %+v: want a reason", h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := r.bus.Unlock(ctx, 0, 1); !errors.Is(err, lockboard.ErrBusDown) {
		t.Errorf("Unlock while unplugged = %v, want ErrBusDown", err)
	}
	// The door changes while unplugged; the bus reports it after replug.
	if err := r.set.SetDoor(0, 2, true); err != nil {
		t.Fatal(err)
	}
	if err := r.set.Replug(); err != nil {
		t.Fatal(err)
	}
	r.rec.waitHealth(t, "recovered", healthy)
	c := r.rec.waitChange(t, "change seen after replug", isChange(0, 2, true))
	if c.Initial {
		t.Errorf("change after replug marked Initial: %+v", c)
	}
	if err := r.bus.Unlock(ctx, 0, 1); err != nil {
		t.Errorf("Unlock after replug = %v", err)
	}
	if n := countKind(r.set.History(), lockboardtest.EventUnlock); n != 1 {
		t.Errorf("board saw %d unlocks, want 1", n)
	}
}

func TestDeadBusReopensPort(t *testing.T) {
	r := newRig(t, lockboard.Protocol8A, []lockboardtest.BoardSpec{{Addr: 1}, {Addr: 2}}, func(c *lockboard.Config) {
		c.DeadCycles = 2
	})
	before := r.bus.Stats().Reopens
	for _, b := range []int{1, 2} {
		if err := r.set.SetSilent(b, true); err != nil {
			t.Fatal(err)
		}
	}
	r.rec.waitHealth(t, "dead bus closes the port", func(h lockboard.Health) bool { return !h.PortOpen })
	for _, b := range []int{1, 2} {
		if err := r.set.SetSilent(b, false); err != nil {
			t.Fatal(err)
		}
	}
	r.rec.waitHealth(t, "recovered", healthy)
	if got := r.bus.Stats().Reopens; got <= before {
		t.Errorf("Reopens = %d, want more than %d", got, before)
	}
}

func TestBoardOutlivesItsClient(t *testing.T) {
	set := lockboardtest.Start(t, lockboardtest.Config{Protocol: lockboard.ProtocolCU16, Boards: []lockboardtest.BoardSpec{{Addr: 0}}, Logger: quiet})
	for i := range 3 {
		rec := newRecorder()
		bus, err := lockboard.Open(fastConfig(set, lockboard.ProtocolCU16, []lockboard.BoardConfig{{Addr: 0}}, rec))
		if err != nil {
			t.Fatal(err)
		}
		rec.waitHealth(t, "client healthy", healthy)
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		err = bus.Unlock(ctx, 0, i+1)
		cancel()
		if err != nil {
			t.Fatalf("client %d: Unlock: %v", i, err)
		}
		_ = bus.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := set.WaitEvent(ctx, 0, func(e lockboardtest.Event) bool { return e.Kind == lockboardtest.EventDisconnect }); err != nil {
		t.Fatalf("no disconnect recorded: %v", err)
	}
	if _, err := os.Stat(set.Path()); err != nil {
		t.Errorf("link gone after clients left: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	good := lockboard.Config{Path: "/dev/null", Protocol: lockboard.ProtocolCU16, Boards: []lockboard.BoardConfig{{Addr: 0}}}
	tests := []struct {
		name string
		mod  func(*lockboard.Config)
	}{
		{"no path", func(c *lockboard.Config) { c.Path = "" }},
		{"no protocol", func(c *lockboard.Config) { c.Protocol = 0 }},
		{"no boards", func(c *lockboard.Config) { c.Boards = nil }},
		{"duplicate board", func(c *lockboard.Config) { c.Boards = append(c.Boards, lockboard.BoardConfig{Addr: 0}) }},
		{"cu16 board 16", func(c *lockboard.Config) { c.Boards[0].Addr = 16 }},
		{"8a board 0", func(c *lockboard.Config) { c.Protocol = lockboard.Protocol8A }},
		{"too many locks", func(c *lockboard.Config) { c.Boards[0].Locks = 17 }},
		{"8a sensors", func(c *lockboard.Config) {
			c.Protocol = lockboard.Protocol8A
			c.Boards[0] = lockboard.BoardConfig{Addr: 1, DoorSensors: true}
		}},
		{"poll too fast", func(c *lockboard.Config) { c.PollInterval = time.Millisecond }},
		{"bad polarity", func(c *lockboard.Config) { c.Boards[0].Polarity = 7 }},
		{"backoff inverted", func(c *lockboard.Config) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond }},
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			c.Boards = slices.Clone(good.Boards)
			tt.mod(&c)
			if err := c.Validate(); !errors.Is(err, lockboard.ErrConfig) {
				t.Errorf("Validate = %v, want ErrConfig", err)
			}
			if _, err := lockboard.Open(c); !errors.Is(err, lockboard.ErrConfig) {
				t.Errorf("Open = %v, want ErrConfig", err)
			}
		})
	}
}
