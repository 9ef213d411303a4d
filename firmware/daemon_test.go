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

// built holds the binaries the process tests build, once per test run each.
var built struct {
	mu   sync.Mutex
	dir  string
	bins map[string]func() (string, error)
}

// binary builds the command package pkg once per test run and returns its path: the
// process tests run the real programs, not in-process stand-ins.
func binary(t testing.TB, pkg string) string {
	t.Helper()
	built.mu.Lock()
	if built.bins == nil {
		built.bins = map[string]func() (string, error){}
	}
	build, ok := built.bins[pkg]
	if !ok {
		build = sync.OnceValues(func() (string, error) {
			dir, err := os.MkdirTemp("", "lockerd-bin-")
			if err != nil {
				return "", err
			}
			path := filepath.Join(dir, filepath.Base(pkg))
			if out, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
				return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
			}
			return path, nil
		})
		built.bins[pkg] = build
	}
	built.mu.Unlock()
	path, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// lockerdBinary is lockerd, built once per test run.
func lockerdBinary(t testing.TB) string {
	return binary(t, "github.com/lockerd/lockerd/firmware/cmd/lockerd")
}

// daemon is lockerd running as a separate process against a sim station's config.
type daemon struct {
	t       testing.TB
	bin     string
	station *sim.Station
	logPath string
	client  *control.Client
	// afterKill, when set, runs after each kill with lockerd reaped: the power-cut
	// test drops the unsynced writes there.
	afterKill func()

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
	if d.afterKill != nil {
		d.afterKill()
	}
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
