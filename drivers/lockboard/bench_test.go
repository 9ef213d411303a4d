package lockboard_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
)

// BenchmarkPollCycle measures one poll cycle of 3 CU16 boards x 16 locks
// through a pty and reports it as a ratio to the cycle's wire time at 19200
// baud: 3 x (5-byte request + 9-byte reply) x 10 bits / 19200 = 21.9 ms.
// A pty ignores the baud rate and moves bytes at memory speed, so the ratio
// shows the driver's and the virtual board's overhead (think time 2 ms,
// inter-frame delay 1 ms per frame) against the wire, not real line timing;
// on hardware the wire time adds to it. The denominator is computed, not
// measured beside the cycle in the same run: unlike the ratios of the cloud
// benchmarks, cycle/wire is an absolute time in units of 21.9 ms and moves
// with the machine's load as any absolute time does.
func BenchmarkPollCycle(b *testing.B) {
	specs := []lockboardtest.BoardSpec{{Addr: 0}, {Addr: 1}, {Addr: 2}}
	r := newRig(b, lockboard.ProtocolCU16, specs, func(c *lockboard.Config) {
		c.PollInterval = 10 * time.Second // only Refresh polls
		c.InterFrameDelay = time.Millisecond
		c.OnChange = nil
	})
	const wire = time.Duration(3*(5+9)*10) * time.Second / 19200
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	n := 0
	for b.Loop() {
		if err := r.bus.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		n++
	}
	per := time.Since(start) / time.Duration(n)
	b.ReportMetric(float64(per)/float64(wire), "cycle/wire")
	b.ReportMetric(float64(wire.Microseconds())/1000, "wire-ms")
}

func TestRefresh(t *testing.T) {
	r := newRig(t, lockboard.ProtocolCU16, []lockboardtest.BoardSpec{{Addr: 0}}, func(c *lockboard.Config) {
		c.PollInterval = 10 * time.Second
	})
	if err := r.set.SetDoor(0, 9, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := r.bus.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := r.bus.State(0, 9); err != nil || !st.LockOpen {
		t.Errorf("State after Refresh = %+v, %v; want open without waiting for a poll", st, err)
	}
	if err := r.set.Unplug(); err != nil {
		t.Fatal(err)
	}
	// The bus learns of the unplug from the Refresh itself, or at once if
	// it has already seen the port fail.
	if err := r.bus.Refresh(ctx); !errors.Is(err, lockboard.ErrBusDown) {
		t.Errorf("Refresh on an unplugged port = %v, want ErrBusDown", err)
	}
}
