package firmware

import (
	"context"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestWatchdogFedOnlyWhileTheStationLoops: lockerd's systemd watchdog feeding is tied
// to the station's timer loop (Station.Healthy, as Run passes it): while the loop has
// not ticked within the feeding interval, no WATCHDOG=1 goes out, so systemd restarts
// a wedged station however alive the rest of the process is; once it ticks, feeding
// resumes.
func TestWatchdogFedOnlyWhileTheStationLoops(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "40000") // fed every 20 ms while healthy

	var looping atomic.Bool
	var asked atomic.Int32
	var lastAge atomic.Int64
	healthy := func(maxAge time.Duration) bool {
		asked.Add(1)
		lastAge.Store(int64(maxAge))
		return looping.Load()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- watchdog(ctx, healthy) }()
	defer func() {
		cancel()
		<-done
	}()

	// Wedged: asked at every interval, never fed.
	buf := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := conn.Read(buf); err == nil {
		t.Fatalf("fed %q while the station loop was wedged", buf[:n])
	}
	if asked.Load() < 2 {
		t.Fatalf("the station's health was asked %d times in 300 ms, want one per 20 ms interval", asked.Load())
	}
	if got := time.Duration(lastAge.Load()); got != 20*time.Millisecond {
		t.Errorf("health asked for a loop tick within %v, want the feeding interval, 20ms", got)
	}
	// Looping again: fed.
	looping.Store(true)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "WATCHDOG=1" {
		t.Fatalf("after the loop resumed: %q, %v; want WATCHDOG=1", buf[:n], err)
	}
}
