package firmware_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/sim"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// lockerdBinary builds lockerd once per test run: the process tests run the real
// program, not an in-process stand-in.
func lockerdBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lockerd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "lockerd")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/lockerd/lockerd/firmware/cmd/lockerd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// daemon is lockerd running as a separate process against a sim station's config.
type daemon struct {
	t       testing.TB
	bin     string
	station *sim.Station
	logPath string
	client  *control.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
}

func newDaemon(t testing.TB, st *sim.Station) *daemon {
	d := &daemon{t: t, bin: lockerdBinary(t), station: st, logPath: filepath.Join(st.Dir, "lockerd.log"),
		client: st.Client()}
	t.Cleanup(func() {
		d.kill()
		d.client.Close()
	})
	return d
}

// running reports whether a lockerd process is up.
func (d *daemon) running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd != nil
}

// start launches lockerd and waits until its control socket answers.
func (d *daemon) start(ctx context.Context) error {
	if d.running() {
		return errors.New("lockerd is already running")
	}
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(d.bin, "-config", d.station.ConfigPath, "run")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	d.mu.Lock()
	d.cmd, d.done = cmd, done
	d.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := d.client.Identity(cctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("lockerd exited during start: %v (log: %s)", err, d.logPath)
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.New("lockerd did not answer on its control socket within 15s")
}

// pid is the running lockerd's process id (0 when none).
func (d *daemon) pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// kill SIGKILLs lockerd, as a power cut would, and reaps it.
func (d *daemon) kill() {
	d.signal(syscall.SIGKILL)
}

// stop asks lockerd to shut down cleanly and fails the test if it does not exit 0.
func (d *daemon) stop() {
	if err := d.signal(syscall.SIGTERM); err != nil {
		d.t.Fatalf("lockerd did not stop cleanly: %v", err)
	}
}

func (d *daemon) signal(sig syscall.Signal) error {
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(sig)
	select {
	case err := <-done:
		if sig == syscall.SIGKILL {
			return nil
		}
		return err
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return errors.New("timed out waiting for exit")
	}
}
