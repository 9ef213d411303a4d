package lockboardtest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/internal/testenv"
	"go.bug.st/serial"
)

// waitLimit bounds every wait for the virtual boards; longer under qemu-user (make
// test-arm), where a killed client's disconnect once took more than 5s to be seen.
var waitLimit = testenv.Scaled(5 * time.Second)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openPort(t *testing.T, path string) serial.Port {
	t.Helper()
	p, err := serial.Open(path, &serial.Mode{BaudRate: 19200})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// roundTrip writes req and reads until n bytes arrive or the wait ends.
func roundTrip(t *testing.T, p serial.Port, req []byte, n int) []byte {
	t.Helper()
	if _, err := p.Write(req); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 64)
	deadline := time.Now().Add(waitLimit)
	for len(got) < n && time.Now().Before(deadline) {
		if err := p.SetReadTimeout(time.Until(deadline)); err != nil {
			t.Fatal(err)
		}
		k, err := p.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, buf[:k]...)
	}
	return got
}

func waitEvent(t *testing.T, s *lockboardtest.Set, after uint64, match func(lockboardtest.Event) bool) lockboardtest.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	e, err := s.WaitEvent(ctx, after, match)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRepliesOnTheWire(t *testing.T) {
	tests := []struct {
		name  string
		proto lockboard.Protocol
		spec  lockboardtest.BoardSpec
		req   []byte
		want  []byte
	}{
		{"cu16 query board 0, all locked", lockboard.ProtocolCU16, lockboardtest.BoardSpec{Addr: 0},
			[]byte{0x02, 0x00, 0x30, 0x03, 0x35}, []byte{0x02, 0x00, 0x35, 0xff, 0xff, 0x00, 0x00, 0x03, 0x38}},
		{"cu16 set-open polarity reports zeros", lockboard.ProtocolCU16, lockboardtest.BoardSpec{Addr: 0, Polarity: lockboard.SetMeansOpen},
			[]byte{0x02, 0x00, 0x30, 0x03, 0x35}, []byte{0x02, 0x00, 0x35, 0x00, 0x00, 0x00, 0x00, 0x03, 0x3a}},
		{"cu16 unlock board 1 lock 3 echoes its address", lockboard.ProtocolCU16, lockboardtest.BoardSpec{Addr: 1, Locks: 8},
			[]byte{0x02, 0x12, 0x31, 0x03, 0x48}, []byte{0x02, 0x12, 0x35, 0xfb, 0x00, 0x00, 0x00, 0x03, 0x47}},
		{"8a open board 1 lock 1", lockboard.Protocol8A, lockboardtest.BoardSpec{Addr: 1, Polarity: lockboard.SetMeansOpen},
			[]byte{0x8a, 0x01, 0x01, 0x11, 0x9b}, []byte{0x8a, 0x01, 0x01, 0x11, 0x9b}},
		{"8a query board 1 lock 1", lockboard.Protocol8A, lockboardtest.BoardSpec{Addr: 1},
			[]byte{0x80, 0x01, 0x01, 0x33, 0xb3}, []byte{0x80, 0x01, 0x01, 0x11, 0x91}},
		{"8a query the board, 8 locks", lockboard.Protocol8A, lockboardtest.BoardSpec{Addr: 1, Locks: 8},
			[]byte{0x80, 0x01, 0x00, 0x33, 0xb2}, []byte{0x80, 0x01, 0x00, 0x00, 0xff, 0x33, 0x4d}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := lockboardtest.Start(t, lockboardtest.Config{Protocol: tt.proto, Boards: []lockboardtest.BoardSpec{tt.spec}, Logger: quiet})
			p := openPort(t, s.Path())
			// Noise first: the board must resynchronise like real firmware.
			got := roundTrip(t, p, append([]byte{0xff, 0x00}, tt.req...), len(tt.want))
			if !bytes.Equal(got, tt.want) {
				t.Errorf("reply % X, want % X", got, tt.want)
			}
			if st := s.Stats(); st.Requests != 1 || st.Replies != 1 {
				t.Errorf("stats %+v: want one request and one reply", st)
			}
		})
	}
}

func TestPolicies(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		policy lockboardtest.Policy
		want   []lockboardtest.EventKind
		final  lockboardtest.LockState
	}{
		{"open then close", lockboardtest.OpenThenClose(10*ms, 20*ms),
			[]lockboardtest.EventKind{lockboardtest.EventUnlock, lockboardtest.EventDoorOpen, lockboardtest.EventDoorClose},
			lockboardtest.LockState{}},
		{"left open", lockboardtest.OpenThenClose(10*ms, -1),
			[]lockboardtest.EventKind{lockboardtest.EventUnlock, lockboardtest.EventDoorOpen},
			lockboardtest.LockState{Released: true, DoorOpen: true}},
		{"jammed", lockboardtest.Jammed(),
			[]lockboardtest.EventKind{lockboardtest.EventUnlock, lockboardtest.EventJam},
			lockboardtest.LockState{}},
		{"nobody comes, latch springs back", lockboardtest.NobodyComes(15 * ms),
			[]lockboardtest.EventKind{lockboardtest.EventUnlock, lockboardtest.EventRelatch},
			lockboardtest.LockState{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := lockboardtest.Start(t, lockboardtest.Config{Protocol: lockboard.ProtocolCU16,
				Boards: []lockboardtest.BoardSpec{{Addr: 0}}, Person: tt.policy, Logger: quiet})
			p := openPort(t, s.Path())
			roundTrip(t, p, []byte{0x02, 0x01, 0x31, 0x03, 0x37}, 9) // unlock lock 2
			last := tt.want[len(tt.want)-1]
			waitEvent(t, s, 0, lockboardtest.Is(last, 0, 2))
			var got []lockboardtest.EventKind
			for _, e := range s.History() {
				got = append(got, e.Kind)
			}
			if !slicesEqual(got, tt.want) {
				t.Errorf("history %v, want %v", got, tt.want)
			}
			if st, err := s.Lock(0, 2); err != nil || st != tt.final {
				t.Errorf("final state %+v, %v; want %+v", st, err, tt.final)
			}
		})
	}
}

func slicesEqual(a, b []lockboardtest.EventKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSetDoorAndPerLockPolicy(t *testing.T) {
	s := lockboardtest.Start(t, lockboardtest.Config{Protocol: lockboard.Protocol8A,
		Boards: []lockboardtest.BoardSpec{{Addr: 3, Locks: 4}}, Logger: quiet})
	if err := s.SetDoor(3, 5, true); !errors.Is(err, lockboardtest.ErrUnknownLock) {
		t.Errorf("SetDoor on lock 5 of 4 = %v, want ErrUnknownLock", err)
	}
	if err := s.SetLockPolicy(3, 2, lockboardtest.Jammed()); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDoor(3, 1, true); err != nil {
		t.Fatal(err)
	}
	p := openPort(t, s.Path())
	got := roundTrip(t, p, []byte{0x8a, 0x03, 0x02, 0x11, 0x9a}, 5)
	if want := []byte{0x8a, 0x03, 0x02, 0x11, 0x9a}; !bytes.Equal(got, want) { // still locked: set
		t.Errorf("jammed open reply % X, want % X", got, want)
	}
	got = roundTrip(t, p, []byte{0x80, 0x03, 0x00, 0x33, 0xb0}, 7)
	if want := []byte{0x80, 0x03, 0x00, 0x00, 0x0e, 0x33, 0xbe}; !bytes.Equal(got, want) { // lock 1 open
		t.Errorf("board reply % X, want % X", got, want)
	}
	e := s.History()[0]
	if e.Kind != lockboardtest.EventDoorOpen || !e.Forced || e.Board != 3 || e.Lock != 1 {
		t.Errorf("first event %v, want forced door-open on 3/1", e)
	}
}

func TestUnplugReplug(t *testing.T) {
	s := lockboardtest.Start(t, lockboardtest.Config{Protocol: lockboard.ProtocolCU16,
		Boards: []lockboardtest.BoardSpec{{Addr: 0}}, Logger: quiet})
	p := openPort(t, s.Path())
	if err := s.Replug(); !errors.Is(err, lockboardtest.ErrPlugged) {
		t.Errorf("Replug while plugged = %v, want ErrPlugged", err)
	}
	if err := s.Unplug(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.Path()); !os.IsNotExist(err) {
		t.Errorf("link still present after Unplug: %v", err)
	}
	_ = p.SetReadTimeout(time.Second)
	if _, err := p.Read(make([]byte, 8)); err == nil {
		t.Error("read on an unplugged port succeeded")
	}
	if err := s.Replug(); err != nil {
		t.Fatal(err)
	}
	p2 := openPort(t, s.Path())
	if got := roundTrip(t, p2, []byte{0x02, 0x00, 0x30, 0x03, 0x35}, 9); len(got) != 9 {
		t.Errorf("after replug got % X", got)
	}
	var kinds []lockboardtest.EventKind
	for _, e := range s.History() {
		kinds = append(kinds, e.Kind)
	}
	if !slicesEqual(kinds, []lockboardtest.EventKind{lockboardtest.EventUnplug, lockboardtest.EventReplug}) {
		t.Errorf("history %v, want unplug, replug", kinds)
	}
}

func TestNextClientAfterDisconnect(t *testing.T) {
	s := lockboardtest.Start(t, lockboardtest.Config{Protocol: lockboard.ProtocolCU16,
		Boards: []lockboardtest.BoardSpec{{Addr: 0}}, Logger: quiet})
	p, err := serial.Open(s.Path(), &serial.Mode{BaudRate: 19200})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, p, []byte{0x02, 0x00, 0x30, 0x03, 0x35}, 9)
	_ = p.Close()
	waitEvent(t, s, 0, func(e lockboardtest.Event) bool { return e.Kind == lockboardtest.EventDisconnect })
	p2 := openPort(t, s.Path())
	if got := roundTrip(t, p2, []byte{0x02, 0x00, 0x30, 0x03, 0x35}, 9); len(got) != 9 {
		t.Errorf("next client got % X", got)
	}
	if st := s.Stats(); st.Clients != 1 {
		t.Errorf("Clients = %d, want 1", st.Clients)
	}
}

func TestCloseEndsWaits(t *testing.T) {
	s := lockboardtest.Start(t, lockboardtest.Config{Protocol: lockboard.ProtocolCU16, Boards: []lockboardtest.BoardSpec{{Addr: 0}}, Logger: quiet})
	path := s.Path()
	done := make(chan error, 1)
	go func() {
		_, err := s.WaitEvent(context.Background(), 0, func(lockboardtest.Event) bool { return false })
		done <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, lockboardtest.ErrClosed) {
			t.Errorf("WaitEvent after Close = %v, want ErrClosed", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("WaitEvent did not end on Close")
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("link left behind: %v", err)
	}
	if err := s.Unplug(); !errors.Is(err, lockboardtest.ErrClosed) {
		t.Errorf("Unplug after Close = %v", err)
	}
}
