package firmware_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/sim"
)

// TestHWTestShowsUnpluggedBus: with the lock board's adapter pulled (the pty's master
// end closed), hwtest's `drivers` says the bus is unplugged in words and `doors` shows
// its doors unknown, not their last state; after a replug both come back.
func TestHWTestShowsUnpluggedBus(t *testing.T) {
	cloud, _ := sim.NewCloud()
	st, err := sim.NewStation(sim.StationOptions{LockerID: "HWT-6", Dir: t.TempDir(), Cloud: cloud, Boards: 1, Locks: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, stdin := io.Pipe()
	var out testenv.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- firmware.HWTest(ctx, st.Config, firmware.HWTestOptions{In: in, Out: &out})
	}()
	say := func(line string) {
		t.Helper()
		if _, err := io.WriteString(stdin, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	at := waitOutput(t, &out, 0, "bus0 board 0 lock 2")
	at = waitOutput(t, &out, at, "closed\n")
	at = waitOutput(t, &out, at, "> ")
	if err := st.Boards.Unplug(); err != nil {
		t.Fatal(err)
	}
	port := st.Config.Hardware.LockBoards[0].Port
	// hwtest prints no health changes: ask until the bus has noticed, each answer a
	// full listing, polling with a deadline.
	at = askUntil(t, &out, at, say, "drivers", "fault: lock board bus "+port+" unplugged")
	say("doors")
	at = waitOutput(t, &out, at, "bus0 board 0 lock 1")
	at = waitOutput(t, &out, at, "unknown\n")
	at = waitOutput(t, &out, at, "bus0 board 0 lock 2")
	at = waitOutput(t, &out, at, "unknown\n")
	if err := st.Boards.Replug(); err != nil {
		t.Fatal(err)
	}
	askUntil(t, &out, at, say, "doors", "bus0 board 0 lock 2                              closed")
	say("quit")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// askUntil sends cmd until its answer (up to the next prompt) holds want, for at most
// 10 s, and returns the offset past that answer.
func askUntil(t *testing.T, out *testenv.SyncBuffer, at int, say func(string), cmd, want string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		say(cmd)
		next := waitOutput(t, out, at, "> ")
		if strings.Contains(out.String()[at:next], want) {
			return next
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never answered %q:\n%s", cmd, want, out.String()[at:next])
		}
		at = next
		time.Sleep(20 * time.Millisecond) // polling with a deadline: hwtest reports no health changes
	}
}
