package firmware_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/mqtt/mqtttest"
	"github.com/lockerd/lockerd/sim"
)

// TestRogueBrokerMemory runs a real lockerd against a broker that, once lockerd has
// subscribed and announced itself, sends the fixed header of a 256 MB PUBLISH and
// starts streaming its body. lockerd must hang up before reading it (paho alone
// allocates the announced size at once: upstream issue 754), log why, connect again,
// and never pass 64 MB of resident memory (VmHWM, the peak, read from /proc).
func TestRogueBrokerMemory(t *testing.T) {
	fb := mqtttest.NewScripted(t)
	pw := filepath.Join(t.TempDir(), "mqtt-password")
	if err := os.WriteFile(pw, []byte("ROGUE-01-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sc, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	st, err := sim.NewStation(sim.StationOptions{LockerID: "ROGUE-01", Dir: t.TempDir(), Boards: 1, Locks: 4, Cloud: sc,
		MQTT:   config.MQTT{Broker: fb.URL(), PasswordFile: pw, ReconnectMax: time.Second, HealthInterval: time.Hour},
		Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := newDaemon(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.start(ctx); err != nil {
		t.Fatal(err)
	}

	conn1 := fb.Accept(false)
	conn1.Handshake()
	base := vmHWM(t, d.pid())

	streamed, err := conn1.StreamOversized(256<<10, 128<<20, 30*time.Second)
	if err == nil {
		t.Fatalf("lockerd took %d MiB of a 256 MB packet without hanging up (peak RSS %d KiB)", streamed>>20, vmHWM(t, d.pid()))
	}
	conn2 := fb.Accept(true)
	conn2.Handshake()
	peak := vmHWM(t, d.pid())
	t.Logf("lockerd peak RSS %d KiB before the packet, %d KiB after; hung up after %d KiB streamed", base, peak, streamed>>10)
	if peak > 64<<10 {
		t.Fatalf("lockerd's peak RSS %d KiB is over 64 MiB", peak)
	}
	d.kill()
	logs, err := os.ReadFile(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logs), "oversized packet") {
		t.Fatalf("lockerd logged no reason for hanging up; log:\n%s", logs)
	}
}

// vmHWM is a process's peak resident set size in KiB.
func vmHWM(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}
