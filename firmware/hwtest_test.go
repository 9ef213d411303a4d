package firmware_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/gpiodoor/gpiodoortest"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/internal/testenv"
	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/sim"
)

// waitOutput polls out until it holds want after offset from, and returns the offset
// just past it.
func waitOutput(t *testing.T, out *testenv.SyncBuffer, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := out.String()
		if i := strings.Index(s[from:], want); i >= 0 {
			return from + i + len(want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("hwtest output lacks %q after offset %d:\n%s", want, from, s)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline: the output is a byte stream
	}
}

// TestHWTest drives `lockerd hwtest` from its stdin against a sim station with a CU16
// board, GPIO doors, a scanner and a keypad, all through the real drivers.
func TestHWTest(t *testing.T) {
	cloud, _ := sim.NewCloud()
	st, err := sim.NewStation(sim.StationOptions{LockerID: "HWT-1", Dir: t.TempDir(), Cloud: cloud, Boards: 1, Locks: 2,
		Person: lockboardtest.OpenThenClose(30*time.Millisecond, 100*time.Millisecond),
		Hardware: sim.HardwareOptions{GPIODoors: 2, Scanner: true, Keypad: true,
			GPIOPerson: gpiodoortest.OpenThenClose(30*time.Millisecond, 100*time.Millisecond)}})
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
		done <- firmware.HWTest(ctx, st.Config, firmware.HWTestOptions{In: in, Out: &out, Pins: st.Options().Hardware.Pins})
	}()
	say := func(line string) {
		t.Helper()
		if _, err := io.WriteString(stdin, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	at := waitOutput(t, &out, 0, "drivers:\n")
	for _, d := range []string{"bus0", sim.GPIODriver, sim.ScannerDriver, sim.KeypadDriver} {
		at = waitOutput(t, &out, at, d)
		at = waitOutput(t, &out, at, "loaded   ok\n")
	}
	at = waitOutput(t, &out, at, "bus0 board 0 lock 1")
	at = waitOutput(t, &out, at, "closed\n")
	at = waitOutput(t, &out, at, "> ")

	say("pulse A01")
	at = waitOutput(t, &out, at, "pulse door A01 (compartment 1, bus0 board 0 lock 1)? [y/N] ")
	say("y")
	// The live door report (from the board's answer) and the pulse's result come in
	// either order.
	pulsed := waitOutput(t, &out, at, "door A01: pulsed")
	opened := waitOutput(t, &out, at, "door A01 (1): open")
	at = waitOutput(t, &out, max(pulsed, opened)-len("door A01: pulsed"), "door A01 (1): closed")

	say("pulse all") // A01 yes, A02 no, G01 yes, then stop before G02
	var g01 int
	for _, step := range []struct{ door, answer, result string }{
		{"A01", "y", "door A01: pulsed"}, {"A02", "n", "door A02: skipped"}, {"G01", "y", "door G01: pulsed"}, {"G02", "q", ""},
	} {
		at = waitOutput(t, &out, at, "pulse door "+step.door)
		at = waitOutput(t, &out, at, "[y/N/q] ")
		if step.door == "G01" {
			g01 = at
		}
		say(step.answer)
		if step.result != "" {
			at = waitOutput(t, &out, at, step.result)
		}
	}
	at = max(at, waitOutput(t, &out, g01, "door G01 (3): open")) // live, during the pulse
	if n := st.Cabinet.Pulses("g1"); n != 1 {
		t.Errorf("G01 pulsed %d times, want 1", n)
	}
	if n := st.Cabinet.Pulses("g2"); n != 0 {
		t.Errorf("G02 pulsed %d times after q, want 0", n)
	}
	unlocks := map[int]int{}
	for _, e := range st.Boards.History() {
		if e.Kind == lockboardtest.EventUnlock {
			unlocks[e.Lock]++
		}
	}
	if unlocks[1] != 2 || unlocks[2] != 0 {
		t.Errorf("board unlocks %v, want lock 1 twice and lock 2 never", unlocks)
	}

	const tracking, qr = "RB123456785GB", "LKC:73914682"
	if err := st.Scanner.Type(tracking); err != nil {
		t.Fatal(err)
	}
	at = waitOutput(t, &out, at, "scan front: 13 chars, …85GB\n")
	if err := st.Scanner.Type(qr); err != nil {
		t.Fatal(err)
	}
	at = waitOutput(t, &out, at, "scan front: pickup-code QR, 12 chars\n")
	if err := st.Keypad.Type(ctx, "73#", 200*time.Millisecond, 200*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		at = waitOutput(t, &out, at, "key pad: *\n")
	}
	say("quit")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{tracking, "3914682", "key pad: 7", "key pad: #"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("hwtest echoed %q:\n%s", secret, out.String())
		}
	}
}

func TestHWTestRefusesWhileLockerdRuns(t *testing.T) {
	cloud, _ := sim.NewCloud()
	st, err := sim.NewStation(sim.StationOptions{LockerID: "HWT-2", Dir: t.TempDir(), Cloud: cloud, Boards: 1, Locks: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ln, err := net.Listen("unix", firmware.SocketPath(st.Config))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = firmware.HWTest(context.Background(), st.Config, firmware.HWTestOptions{In: strings.NewReader("quit\n"), Out: io.Discard})
	if !errors.Is(err, firmware.ErrRunning) {
		t.Fatalf("error = %v, want ErrRunning", err)
	}
}

// TestHWTestRefusesWhileTheStoreIsHeld: a lockerd started with another control
// socket than hwtest computes still holds the store's lock, and hwtest refuses.
func TestHWTestRefusesWhileTheStoreIsHeld(t *testing.T) {
	cloud, _ := sim.NewCloud()
	st, err := sim.NewStation(sim.StationOptions{LockerID: "HWT-4", Dir: t.TempDir(), Cloud: cloud, Boards: 1, Locks: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := os.MkdirAll(filepath.Dir(firmware.StorePath(st.Config)), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(firmware.StorePath(st.Config), 0o600, nil) // as a running lockerd holds it
	if err != nil {
		t.Fatal(err)
	}
	err = firmware.HWTest(context.Background(), st.Config, firmware.HWTestOptions{In: strings.NewReader("quit\n"), Out: io.Discard})
	db.Close()
	if !errors.Is(err, firmware.ErrRunning) {
		t.Fatalf("error = %v, want ErrRunning", err)
	}
}

// TestHWTestCommand runs the lockerd binary's hwtest with piped stdin against a CU16
// board and a scanner on ptys, which work across processes.
func TestHWTestCommand(t *testing.T) {
	cloud, _ := sim.NewCloud()
	st, err := sim.NewStation(sim.StationOptions{LockerID: "HWT-3", Dir: t.TempDir(), Cloud: cloud, Boards: 1, Locks: 2,
		Hardware: sim.HardwareOptions{Scanner: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lockerdBinary(t), "-config", st.ConfigPath, "hwtest")
	cmd.Stdin = strings.NewReader("drivers\npulse 2\ny\nquit\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"bus0         lockboard  loaded   ok", "front        scanner    loaded   ok", "door A02: pulsed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
