// Package updatetest builds what update tests need around the real dpkg: small .deb
// files, a scratch root with its own package database, the installer script's path and
// the lockerd-release tool. Tests of firmware/update and of the firmware share it.
package updatetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/lockerd/lockerd/internal/testenv"
)

// Deb builds a lockerd package of version and arch whose files are the given contents
// (path under the root: contents; executables under usr/bin).
func Deb(t testing.TB, version, arch string, files map[string]string) []byte {
	t.Helper()
	testenv.LookPath(t, "dpkg-deb")
	dir := t.TempDir()
	files["DEBIAN/control"] = "Package: lockerd\nVersion: " + version + "\nArchitecture: " + arch + "\n" +
		"Maintainer: lockerd tests <tests@example.invalid>\nDescription: stub lockerd for update tests\n"
	for name, data := range files {
		p := filepath.Join(dir, "pkg", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "stub.deb")
	if b, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", filepath.Join(dir, "pkg"), out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Root is a scratch root with its own dpkg database, for dpkg --root.
type Root string

// NewRoot makes an empty root. dpkg --root chroots for maintainer scripts, so the test
// must run as root; it fails under CI=true otherwise, and skips elsewhere.
func NewRoot(t testing.TB) Root {
	t.Helper()
	testenv.LookPath(t, "dpkg")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (dpkg --root chroots for maintainer scripts)")
	}
	r := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/cache/apt/archives"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"status", "available"} {
		if err := os.WriteFile(filepath.Join(r, "var/lib/dpkg", f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Root(r)
}

// Install installs deb as apt would leave it: installed, and in apt's cache under
// name (the installer's way back for the first update).
func (r Root) Install(t testing.TB, name string, deb []byte) {
	t.Helper()
	cached := filepath.Join(string(r), "var/cache/apt/archives", name)
	if err := os.WriteFile(cached, deb, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("dpkg", "--root="+string(r), "-i", cached).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, b)
	}
}

// Installed is lockerd's version as dpkg has it installed.
func (r Root) Installed(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "--root="+string(r), "-W", "-f", "${Version}", "lockerd").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	return string(out)
}

// Script is the path of lockerd-update.sh, the installer, run as it is.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "lockerd-update.sh")
}

var (
	toolOnce sync.Once
	toolPath string
	toolErr  error
)

// Tool builds cmd/lockerd-release once per test binary and returns its path.
func Tool(t testing.TB) string {
	t.Helper()
	toolOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lockerd-release")
		if err != nil {
			toolErr = err
			return
		}
		toolPath = filepath.Join(dir, "lockerd-release")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", toolPath, "./cmd/lockerd-release")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..")
		if b, err := cmd.CombinedOutput(); err != nil {
			toolErr = &buildError{err, b}
		}
	})
	if toolErr != nil {
		t.Fatal(toolErr)
	}
	return toolPath
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + string(e.out) }
