package firmware_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/sim"
)

// cpuTicks returns utime+stime of a process in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return ut + st, nil
}

// BenchmarkIdleCPU runs lockerd as a process against a 24-door virtual station (two
// CU16 boards polled every 150 ms) and reports the share of one core it uses while
// nothing happens (docs/architecture.md §8: under 1%).
func BenchmarkIdleCPU(b *testing.B) {
	cloud, _ := sim.NewCloud()
	st, err := sim.NewStation(sim.StationOptions{LockerID: "IDLE-1", Dir: b.TempDir(), Cloud: cloud})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	d := newDaemon(b, st)
	if err := d.start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer d.stop()
	const window = 10 * time.Second
	const hz = 100 // USER_HZ on Linux
	var share []float64
	for b.Loop() {
		pid := d.pid()
		t0, err := cpuTicks(pid)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(window) // measuring idle: there is nothing to await
		t1, err := cpuTicks(pid)
		if err != nil {
			b.Fatal(err)
		}
		share = append(share, float64(t1-t0)/hz/window.Seconds()*100)
	}
	b.ReportMetric(share[len(share)-1], "idle-cpu-%")
}
