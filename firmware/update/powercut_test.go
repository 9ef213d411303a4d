package update

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
)

// killAt returns the environment of an installer run that is SIGKILLed at its n-th
// call of sync, which it makes at every step boundary (each state written, the package
// moved): a power cut between any two steps. A shim earlier in PATH does it.
func (l *locker) killAt(n int) []string {
	l.t.Helper()
	dir := l.t.TempDir()
	real, err := exec.LookPath("sync")
	if err != nil {
		l.t.Fatal(err)
	}
	shim := "#!/bin/sh\nn=$(($(cat " + dir + "/count 2>/dev/null || echo 0) + 1))\necho $n >" + dir + "/count\n" +
		real + " \"$@\"\n[ $n -eq " + strconv.Itoa(n) + " ] && kill -9 $PPID\nexit 0\n"
	if err := os.WriteFile(filepath.Join(dir, "sync"), []byte(shim), 0o755); err != nil {
		l.t.Fatal(err)
	}
	return []string{"PATH=" + dir + ":" + os.Getenv("PATH")}
}

// dpkgKilled is killAt for dpkg: its n-th run is SIGKILLed with the installer while
// it unpacks (after 20 ms), a power cut in the middle of dpkg.
func (l *locker) dpkgKilled(n int) []string {
	l.t.Helper()
	dir := l.t.TempDir()
	real, err := exec.LookPath("dpkg")
	if err != nil {
		l.t.Fatal(err)
	}
	shim := "#!/bin/sh\nn=$(($(cat " + dir + "/count 2>/dev/null || echo 0) + 1))\necho $n >" + dir + "/count\n" +
		"[ $n -ne " + strconv.Itoa(n) + " ] && exec " + real + " \"$@\"\n" +
		real + " \"$@\" & sleep 0.02; kill -9 $! $PPID; exit 0\n"
	if err := os.WriteFile(filepath.Join(dir, "dpkg"), []byte(shim), 0o755); err != nil {
		l.t.Fatal(err)
	}
	return []string{"PATH=" + dir + ":" + os.Getenv("PATH")}
}

// startable checks what a power cut must never cause: a locker whose lockerd cannot
// start. The installed binary runs.
func (l *locker) startable(when string) {
	l.t.Helper()
	cmd := exec.Command(filepath.Join(l.root, "usr/bin/lockerd"))
	cmd.Env = l.env
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("%s: lockerd does not start: %v\n%s", when, err, out)
	}
}

// TestPowerCutDuringInstall cuts the power (SIGKILL of the installer) at every step of
// a good install and of one that rolls back, and inside each dpkg run; the next run of
// the installer (the path unit starts it at boot: the request is still there) resumes
// and ends healthy on the new version, or rolled back on the old one, and lockerd
// starts at every point in between. A first, uncut run counts the cut points.
func TestPowerCutDuringInstall(t *testing.T) {
	for _, tc := range []struct {
		name    string
		healthy bool
		want    string // the version running at the end
		last    string // the last step reported
	}{
		{"good release", true, "1.1-1", "healthy"},
		{"unhealthy release", false, "1.0-1", "rolled_back:unhealthy"},
	} {
		for _, cut := range []string{"sync", "dpkg"} {
			prepare := func(t *testing.T, n int) (*locker, []string) {
				l := newLocker(t, "1.0-1")
				if err := l.update(l.publish("1.1-1", stubDeb(t, "1.1-1", tc.healthy), l.release)); err != nil {
					t.Fatal(err)
				}
				l.steps()
				if cut == "dpkg" {
					return l, l.dpkgKilled(n)
				}
				return l, l.killAt(n)
			}
			// The uncut run, counting.
			l, env := prepare(t, 0)
			if out, err := l.install(env...); err != nil {
				t.Fatalf("uncut run: %v\n%s", err, out)
			}
			points := l.calls(env)
			if points < 1 {
				t.Fatalf("%s/%s: %d cut points counted", tc.name, cut, points)
			}
			t.Run(tc.name+"/"+cut, func(t *testing.T) {
				for n := 1; n <= points; n++ {
					t.Run(strconv.Itoa(n), func(t *testing.T) {
						t.Parallel()
						l, env := prepare(t, n)
						out, err := l.install(env...)
						var exit *exec.ExitError
						if !errors.As(err, &exit) || exit.ExitCode() != -1 {
							t.Fatalf("installer not killed at cut %d of %d: %v\n%s", n, points, err, out)
						}
						l.startable("after the cut")
						l.reportState() // lockerd starts and reports what it finds
						if out, err := l.install(); err != nil {
							t.Fatalf("resumed installer: %v\n%s", err, out)
						}
						l.startable("after the resumed run")
						l.reportState()
						steps := l.steps()
						if len(steps) == 0 || steps[len(steps)-1] != tc.last {
							t.Errorf("steps = %v, want the last to be %s", steps, tc.last)
						}
						if slices.Contains(steps, "refused") {
							t.Errorf("a resumed install reported a refusal: %v", steps)
						}
						if v := l.installed(); v != tc.want {
							t.Errorf("installed %q, want %s", v, tc.want)
						}
						if v := l.stamp(); v != tc.want {
							t.Errorf("health stamp from %q, want %s", v, tc.want)
						}
						if l.exists(RequestFile) {
							t.Error("the request is still spooled")
						}
					})
				}
			})
		}
	}
}

// calls is how many times the shim of env was called.
func (l *locker) calls(env []string) int {
	l.t.Helper()
	dir, _, _ := strings.Cut(strings.TrimPrefix(env[0], "PATH="), ":")
	data, err := os.ReadFile(filepath.Join(dir, "count"))
	if err != nil {
		l.t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		l.t.Fatal(err)
	}
	return n
}

// TestDownloadResumes: the artifact server drops the connection half-way (lockerd
// loses power or the link while downloading); the next start resumes the order from the
// spool with a Range request for the rest, and the bytes verify.
func TestDownloadResumes(t *testing.T) {
	l := newLocker(t, "1.0-1")
	deb := stubDeb(t, "1.1-1", true)
	o := l.publish("1.1-1", deb, l.release)
	half := len(deb) / 2
	cut := true
	l.server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cut {
			cut = false
			w.Header().Set("Content-Length", strconv.Itoa(len(deb)))
			w.Write(deb[:half])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection ends mid-body
		}
		l.serve(w, r)
	})
	err := l.update(o)
	if ReasonOf(err) != ReasonDownload {
		t.Fatalf("cut download: %v, want a download refusal", err)
	}
	if st, err := os.Stat(filepath.Join(l.spool, PartFile)); err != nil || st.Size() != int64(half) {
		t.Fatalf("part after the cut: %v, %v; want %d bytes of %d", st.Size(), err, half, len(deb))
	}
	// A power cut instead of an error: the order is still in the spool at the next start.
	writeFile(t, l.spool, OrderFile, must(jsonLine(o)))
	u := New(l.config(), idle{}, l.report)
	if err := u.Resume(testenv.Context(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if want := "bytes=" + strconv.Itoa(half) + "-"; !slices.Contains(l.ranges, want) {
		t.Errorf("ranges asked = %v, want %s", l.ranges, want)
	}
	if !l.exists(RequestFile) || l.exists(OrderFile) {
		t.Error("after the resumed download: want the request spooled and the order gone")
	}
	if got := strings.Join(l.steps(), " "); got != "downloading refused:download downloading verified" {
		t.Errorf("steps = %s", got)
	}
}

// TestWaitsForIdleDoors: a verified release is not spooled while a door operation is
// under way; a stop while waiting leaves the order for Resume.
func TestWaitsForIdleDoors(t *testing.T) {
	l := newLocker(t, "1.0-1")
	o := l.publish("1.1-1", stubDeb(t, "1.1-1", true), l.release)
	ctx, cancel := context.WithCancel(testenv.Context(t, 30*time.Second))
	doors := make(chan struct{})
	u := New(l.config(), busyDoors(doors), l.report)
	result := make(chan error, 1)
	if err := u.Start(ctx, o, func(err error) { result <- err }); err != nil {
		t.Fatal(err)
	}
	if err := u.Start(ctx, o, nil); ReasonOf(err) != ReasonInProgress {
		t.Errorf("a second update while one runs: %v", err)
	}
	testenv.Eventually(t, 10*time.Second, "verified", func() bool { return l.exists(DebFile("lockerd", "1.1-1", "amd64")) })
	if l.exists(RequestFile) {
		t.Fatal("spooled while a door operation is under way")
	}
	cancel() // lockerd stops
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped update: %v", err)
	}
	if !l.exists(OrderFile) || l.exists(RequestFile) {
		t.Fatal("want the order kept and no request after a stop")
	}
	close(doors)
	if err := New(l.config(), busyDoors(doors), l.report).Resume(testenv.Context(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if !l.exists(RequestFile) {
		t.Error("no request once the doors are idle")
	}
}

type busyDoors chan struct{}

func (b busyDoors) WaitIdle(ctx context.Context) error {
	select {
	case <-b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
