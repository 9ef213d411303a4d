package lockboard_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/internal/testenv"
)

// waitLimit bounds every wait in these tests (longer under qemu-user).
var waitLimit = testenv.Scaled(5 * time.Second)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// recorder collects callbacks from a Bus.
type recorder struct {
	changes chan lockboard.Change
	health  chan lockboard.Health
}

func newRecorder() *recorder {
	return &recorder{changes: make(chan lockboard.Change, 4096), health: make(chan lockboard.Health, 4096)}
}

func (r *recorder) onChange(c lockboard.Change) {
	select {
	case r.changes <- c:
	default:
		panic("recorder: change buffer full")
	}
}

func (r *recorder) onHealth(h lockboard.Health) {
	select {
	case r.health <- h:
	default:
		panic("recorder: health buffer full")
	}
}

func (r *recorder) waitChange(t testing.TB, what string, match func(lockboard.Change) bool) lockboard.Change {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		select {
		case c := <-r.changes:
			if match(c) {
				return c
			}
		case <-deadline.C:
			t.Fatalf("no change: %s", what)
			return lockboard.Change{}
		}
	}
}

func (r *recorder) waitHealth(t testing.TB, what string, match func(lockboard.Health) bool) lockboard.Health {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		select {
		case h := <-r.health:
			if match(h) {
				return h
			}
		case <-deadline.C:
			t.Fatalf("no health report: %s", what)
			return lockboard.Health{}
		}
	}
}

func isChange(board, lock int, lockOpen bool) func(lockboard.Change) bool {
	return func(c lockboard.Change) bool { return c.Board == board && c.Lock == lock && c.LockOpen == lockOpen }
}

func healthy(h lockboard.Health) bool { return h.OK }

// fastConfig is a bus config with short timings for tests on a pty.
func fastConfig(set *lockboardtest.Set, p lockboard.Protocol, boards []lockboard.BoardConfig, r *recorder) lockboard.Config {
	return lockboard.Config{
		Path:         set.Path(),
		Protocol:     p,
		Boards:       boards,
		PollInterval: 20 * time.Millisecond,
		// Under qemu-user (make test-arm) on a busy machine the virtual board's reply
		// can take longer than 40ms to come: a dead board to the bus.
		ReplyTimeout: testenv.Scaled(40 * time.Millisecond),
		MinBackoff:   10 * time.Millisecond,
		MaxBackoff:   50 * time.Millisecond,
		OnChange:     r.onChange,
		OnHealth:     r.onHealth,
		Logger:       quiet,
	}
}

func openBus(t testing.TB, cfg lockboard.Config) *lockboard.Bus {
	t.Helper()
	b, err := lockboard.Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// rig is a virtual board set with a bus driving it.
type rig struct {
	set *lockboardtest.Set
	bus *lockboard.Bus
	rec *recorder
}

func newRig(t testing.TB, p lockboard.Protocol, specs []lockboardtest.BoardSpec, mod func(*lockboard.Config)) *rig {
	t.Helper()
	set := lockboardtest.Start(t, lockboardtest.Config{Protocol: p, Boards: specs, Logger: quiet})
	var boards []lockboard.BoardConfig
	for _, s := range specs {
		boards = append(boards, lockboard.BoardConfig{
			Addr: s.Addr, Locks: s.Locks, Polarity: s.Polarity,
			DoorSensors: s.DoorSensors, SensorPolarity: s.SensorPolarity,
		})
	}
	rec := newRecorder()
	cfg := fastConfig(set, p, boards, rec)
	if mod != nil {
		mod(&cfg)
	}
	bus := openBus(t, cfg)
	rec.waitHealth(t, "bus healthy at start", healthy)
	return &rig{set: set, bus: bus, rec: rec}
}
