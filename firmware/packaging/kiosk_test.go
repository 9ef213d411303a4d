package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
)

// TestKioskPackage builds lockerd-kiosk (the locker's screen: docs/kiosk.md), checks it
// with lintian, installs it with the real dpkg into a scratch root (its dependencies
// forced: chromium and cage are not on a CI machine), and checks the unit, the kiosk
// user and its groups, the unit enabled, systemd-analyze verify on the unit (with stub
// binaries where chromium, cage and curl would be), then removes and purges it.
func TestKioskPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (dpkg installs into a scratch root)")
	}
	dpkg := testenv.LookPath(t, "dpkg")
	lintian := testenv.LookPath(t, "lintian")
	testenv.LookPath(t, "systemd-sysusers")
	analyze := testenv.LookPath(t, "systemd-analyze")
	ctx := testenv.Context(t, 5*time.Minute)
	run := func(name string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	must := func(name string, args ...string) string {
		t.Helper()
		out, err := run(name, args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return out
	}
	built := strings.Split(strings.TrimSpace(must("./build-deb", "lockerd-kiosk", "all", t.TempDir())), "\n")
	deb := built[len(built)-1]
	if !regexp.MustCompile(`/lockerd-kiosk_[0-9][^_]*_all\.deb$`).MatchString(deb) {
		t.Fatalf("build-deb wrote %q, want lockerd-kiosk_VERSION_all.deb", deb)
	}
	if o, err := run(lintian, "--fail-on", "error,warning", deb); err != nil {
		t.Fatalf("lintian: %v\n%s", err, o)
	}
	info := must(dpkg, "-I", deb)
	for _, dep := range []string{"lockerd", "chromium", "cage", "fonts-noto-cjk", "espeak-ng"} {
		if !regexp.MustCompile(`(?m)^ Depends:.*\b` + regexp.QuoteMeta(dep) + `\b`).MatchString(info) {
			t.Errorf("the package does not depend on %s:\n%s", dep, info)
		}
	}

	root, admin := t.TempDir(), t.TempDir()
	for _, f := range []string{"status", "available"} {
		if err := os.WriteFile(filepath.Join(admin, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"updates", "info", "triggers"} {
		if err := os.MkdirAll(filepath.Join(admin, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The groups the kiosk user joins exist on Raspberry Pi OS; sysusers makes them if
	// not, so the scratch root starts with an empty passwd and group.
	for _, f := range []string{"etc/passwd", "etc/group"} {
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dpkgArgs := func(args ...string) []string {
		return append([]string{"--instdir=" + root, "--admindir=" + admin, "--force-script-chrootless",
			"--force-depends", "--log=/dev/null"}, args...)
	}
	must(dpkg, dpkgArgs("-i", deb)...)
	for path, mode := range map[string]os.FileMode{
		"usr/lib/systemd/system/locker-kiosk.service":                     0o644,
		"usr/lib/sysusers.d/locker-kiosk.conf":                            0o644,
		"usr/share/doc/lockerd-kiosk/kiosk.md.gz":                         0o644,
		"etc/systemd/system/multi-user.target.wants/locker-kiosk.service": os.ModeSymlink | 0o777,
	} {
		st, err := os.Lstat(filepath.Join(root, path))
		if err != nil {
			t.Errorf("installed: %v", err)
			continue
		}
		if got := st.Mode() & (os.ModeType | os.ModePerm); got != mode {
			t.Errorf("%s: mode %v, want %v", path, got, mode)
		}
	}
	group, err := os.ReadFile(filepath.Join(root, "etc/group"))
	if err != nil {
		t.Fatal(err)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^kiosk:x:\d+:\d+:[^:]*:/var/lib/locker-kiosk:`).Match(passwd) {
		t.Errorf("no user kiosk:\n%s", passwd)
	}
	for _, g := range []string{"video", "render", "input", "audio"} {
		if !regexp.MustCompile(`(?m)^` + g + `:x:\d+:(.*,)?kiosk(,.*)?$`).Match(group) {
			t.Errorf("kiosk is not in group %s:\n%s", g, group)
		}
	}
	if regexp.MustCompile(`(?m)^lockerd:x:\d+:(.*,)?kiosk(,.*)?$`).Match(group) {
		t.Error("kiosk is in group lockerd: the screen must have a keypad person's rights only")
	}
	// systemd-analyze verify reads the unit in that root, its binaries at their paths.
	for _, bin := range []string{"usr/bin/cage", "usr/bin/chromium", "usr/bin/curl", "bin/sh"} {
		p := filepath.Join(root, bin)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/false\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"multi-user.target", "sysinit.target", "basic.target", "shutdown.target", "systemd-user-sessions.service"} {
		b, err := os.ReadFile(filepath.Join("/usr/lib/systemd/system", u))
		if err != nil {
			testenv.Missing(t, "systemd's units ("+u+")")
		}
		if err := os.WriteFile(filepath.Join(root, "etc/systemd/system", u), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if o, err := run(analyze, "verify", "--root="+root, "locker-kiosk.service"); err != nil || strings.Contains(o, "locker-kiosk.service:") {
		t.Errorf("systemd-analyze verify locker-kiosk.service: %v\n%s", err, o)
	}
	must(dpkg, dpkgArgs("-P", "lockerd-kiosk")...)
	for _, p := range []string{"usr/lib/systemd/system/locker-kiosk.service", "etc/systemd/system/multi-user.target.wants/locker-kiosk.service"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s left after purge", p)
		}
	}
}
