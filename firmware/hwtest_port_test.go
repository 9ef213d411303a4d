package firmware_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/sim"
)

// TestHWTestRefusedUnderLockerdWithAnotherConfig: a lockerd runs on a station's
// CU16 bus and scanner; `lockerd hwtest` with a copy of its config that has another
// state_dir and socket (so neither the socket nor the store tells it lockerd runs)
// is refused by the serial port's own lock, naming the device and the holder, and no
// door is pulsed (docs/adr/0054-serial-ports-locked-per-device.md).
func TestHWTestRefusedUnderLockerdWithAnotherConfig(t *testing.T) {
	cloud, _ := sim.NewCloud()
	st, err := sim.NewStation(sim.StationOptions{LockerID: "HWT-5", Dir: t.TempDir(), Cloud: cloud, Boards: 1, Locks: 2,
		Hardware: sim.HardwareOptions{Scanner: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := newDaemon(t, st)
	if err := d.start(ctx); err != nil {
		t.Fatal(err)
	}

	other := *st.Config
	dir := t.TempDir()
	other.StateDir = filepath.Join(dir, "state")
	other.Control.Socket = filepath.Join(dir, "control.sock")
	data, err := yaml.Marshal(&other)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	device, err := filepath.EvalSymlinks(st.Config.Hardware.LockBoards[0].Port)
	if err != nil {
		t.Fatal(err)
	}
	before := st.Boards.LastSeq()
	cmd := exec.CommandContext(ctx, lockerdBinary(t), "-config", path, "hwtest")
	cmd.Stdin = strings.NewReader("pulse all\ny\ny\nquit\n")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("hwtest ran beside lockerd:\n%s", out)
	}
	want := fmt.Sprintf("%s is in use by pid %d, lockerd", device, d.pid())
	if !strings.Contains(string(out), want) {
		t.Errorf("hwtest output lacks %q:\n%s", want, out)
	}
	for _, e := range st.Boards.History() {
		if e.Seq > before && e.Kind == lockboardtest.EventUnlock {
			t.Errorf("board saw %v from the refused hwtest", e)
		}
	}
	d.stop()
	// With lockerd stopped, the same hwtest runs.
	cmd = exec.CommandContext(ctx, lockerdBinary(t), "-config", path, "hwtest")
	cmd.Stdin = strings.NewReader("quit\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hwtest after lockerd stopped: %v\n%s", err, out)
	}
}
