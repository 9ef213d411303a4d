package packaging

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
)

// TestPackageInstall builds the amd64 lockerd package with build-deb (as make package
// does), checks it with lintian, installs it with the real dpkg into a scratch root
// (--instdir/--admindir, maintainer scripts run chrootless with DPKG_ROOT set), and
// checks what an installer relies on: the files and their modes, the user and its
// groups (systemd-sysusers --root), /run/lockerd (systemd-tmpfiles --root), the unit
// (systemd-analyze verify --root, the installed binary at the unit's path), the
// watchdog drop-in as systemd reads it; then runs the installed lockerd check on the
// example (refused: its fleet keys are placeholders) and on an edited copy (ok), and
// removes and purges the package. It needs root, dpkg, lintian and systemd's tools;
// under CI=true a missing one fails the test.
func TestPackageInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package: not with -short")
	}
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (dpkg writes a scratch root with its files' owners)")
	}
	dpkg := testenv.LookPath(t, "dpkg")
	lintian := testenv.LookPath(t, "lintian")
	testenv.LookPath(t, "systemd-sysusers") // run by the postinst
	analyze := testenv.LookPath(t, "systemd-analyze")
	testenv.LookPath(t, "systemd-tmpfiles")
	ctx := testenv.Context(t, 10*time.Minute)

	run := func(name string, args ...string) (string, error) {
		t.Helper()
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

	// Build, as make package does.
	out := t.TempDir()
	built := strings.Split(strings.TrimSpace(must("./build-deb", "lockerd", "amd64", out)), "\n")
	deb := built[len(built)-1] // its last line; nfpm's messages before it
	if !regexp.MustCompile(`/lockerd_[0-9][^_]*_amd64\.deb$`).MatchString(deb) {
		t.Fatalf("build-deb wrote %q, want lockerd_VERSION_amd64.deb", deb)
	}
	if o, err := run(lintian, "--fail-on", "error", deb); err != nil {
		t.Fatalf("lintian: %v\n%s", err, o)
	}

	// Install into a scratch root: an empty dpkg database, nothing else. The package's
	// dependency (systemd-sysusers) is the host's, so dependencies are not checked.
	root := t.TempDir()
	admin := filepath.Join(root, "var/lib/dpkg")
	for _, d := range []string{"updates", "info"} {
		if err := os.MkdirAll(filepath.Join(admin, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(admin, "status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dpkgArgs := func(args ...string) []string {
		return append([]string{"--instdir=" + root, "--admindir=" + admin, "--force-script-chrootless",
			"--force-depends", "--log=/dev/null"}, args...)
	}
	must(dpkg, dpkgArgs("-i", deb)...)

	// The files, with the modes an installer relies on.
	for path, mode := range map[string]os.FileMode{
		"usr/bin/lockerd":                                                0o755,
		"usr/lib/systemd/system/lockerd.service":                         0o644,
		"usr/libexec/lockerd/lockerd-update":                             0o755,
		"usr/lib/systemd/system/lockerd-update.path":                     0o644,
		"usr/lib/systemd/system/lockerd-update.service":                  0o644,
		"etc/systemd/system/multi-user.target.wants/lockerd-update.path": os.ModeSymlink | 0o777,
		"usr/share/doc/lockerd/updates.md.gz":                            0o644,
		"usr/lib/systemd/system.conf.d/60-lockerd-watchdog.conf":         0o644,
		"usr/lib/sysusers.d/lockerd.conf":                                0o644,
		"usr/lib/tmpfiles.d/lockerd.conf":                                0o644,
		"usr/lib/udev/rules.d/60-lockerd-gpio.rules":                     0o644,
		"etc/lockerd":                                      os.ModeDir | 0o750,
		"etc/lockerd/lockerd.yaml":                         0o640,
		"usr/share/man/man1/lockerd.1.gz":                  0o644,
		"usr/share/man/man1/lockerd-check.1.gz":            0o644,
		"usr/share/bash-completion/completions/lockerd":    0o644,
		"usr/share/zsh/vendor-completions/_lockerd":        0o644,
		"usr/share/fish/vendor_completions.d/lockerd.fish": 0o644,
		"usr/share/doc/lockerd/copyright":                  0o644,
		"run/lockerd":                                      os.ModeDir | 0o750,
	} {
		st, err := os.Lstat(filepath.Join(root, path))
		if err != nil {
			t.Errorf("installed: %v", err)
			continue
		}
		if got := st.Mode() & (os.ModeDir | os.ModeType | os.ModePerm); got != mode {
			t.Errorf("%s: mode %v, want %v", path, got, mode)
		}
	}
	if o := must(dpkg, "--admindir="+admin, "-s", "lockerd"); !strings.Contains(o, "Conffiles:\n /etc/lockerd/lockerd.yaml ") {
		t.Errorf("the example configuration is not a conffile:\n%s", o)
	}

	// The user and its groups, as systemd-sysusers made them in the scratch root; the
	// configuration's group.
	passwd := must("cat", filepath.Join(root, "etc/passwd"))
	group := must("cat", filepath.Join(root, "etc/group"))
	user := regexp.MustCompile(`(?m)^lockerd:x:(\d+):(\d+):[^:]*:/var/lib/lockerd:/usr/sbin/nologin$`).FindStringSubmatch(passwd)
	if user == nil {
		t.Fatalf("no system user lockerd in the scratch root's passwd:\n%s", passwd)
	}
	for _, g := range []string{"dialout", "gpio"} {
		if !regexp.MustCompile(`(?m)^` + g + `:x:\d+:(.*,)?lockerd(,.*)?$`).MatchString(group) {
			t.Errorf("lockerd is not in group %s:\n%s", g, group)
		}
	}
	for _, p := range []string{"etc/lockerd", "etc/lockerd/lockerd.yaml", "run/lockerd"} {
		if o := must("stat", "-c", "%g", filepath.Join(root, p)); strings.TrimSpace(o) != user[2] {
			t.Errorf("%s: group %s, want lockerd's (%s)", p, strings.TrimSpace(o), user[2])
		}
	}

	// The unit, as systemd reads it in that root: its binary at ExecStart's path. The
	// targets it names are the host's (not the package's), copied to the root's /etc.
	// Any output is a finding: systemd-analyze reports a mistyped setting as a
	// warning with exit status 0.
	for _, u := range []string{"sysinit.target", "basic.target", "multi-user.target", "network-online.target", "shutdown.target"} {
		b, err := os.ReadFile(filepath.Join("/usr/lib/systemd/system", u))
		if err != nil {
			testenv.Missing(t, "systemd's units ("+u+")")
		}
		if err := os.MkdirAll(filepath.Join(root, "etc/systemd/system"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "etc/systemd/system", u), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"lockerd.service", "lockerd-update.path", "lockerd-update.service"} {
		if o, err := run(analyze, "verify", "--root="+root, u); err != nil || o != "" {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, o)
		}
	}
	// The watchdog drop-in: read by systemd from where the package puts it, with
	// timeouts systemd parses and that the bcm2835 watchdog accepts (at most 15 s).
	conf := must(analyze, "--root="+root, "cat-config", "systemd/system.conf")
	if !strings.Contains(conf, "60-lockerd-watchdog.conf") {
		t.Errorf("systemd does not read the watchdog drop-in:\n%s", conf)
	}
	for _, key := range []string{"RuntimeWatchdogSec", "RebootWatchdogSec"} {
		m := regexp.MustCompile(`(?m)^` + key + `=(.+)$`).FindStringSubmatch(conf)
		if m == nil {
			t.Errorf("%s not set", key)
			continue
		}
		o := must(analyze, "timespan", m[1])
		var us int64 = -1
		if m := regexp.MustCompile(`μs: (\d+)`).FindStringSubmatch(o); m != nil {
			us, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if us < 1e6 || us > 15e6 {
			t.Errorf("%s=%s: want 1-15 s (bcm2835_wdt's range)\n%s", key, m[1], o)
		}
	}

	// The installed lockerd check refuses the example until it is edited...
	installed := filepath.Join(root, "usr/bin/lockerd")
	// It reports its package's Debian version: the signed-update check compares it
	// with a release's (docs/updates.md).
	pkgVersion := strings.TrimSpace(must(dpkg, "--admindir="+admin, "-s", "lockerd"))
	if i := strings.Index(pkgVersion, "\nVersion: "); i >= 0 {
		pkgVersion = strings.SplitN(pkgVersion[i+len("\nVersion: "):], "\n", 2)[0]
	}
	if o, err := run(installed, "--version"); err != nil || strings.TrimSpace(o) != pkgVersion {
		t.Errorf("installed lockerd --version: %q (%v), want the package's %q", strings.TrimSpace(o), err, pkgVersion)
	}
	example := filepath.Join(root, "etc/lockerd/lockerd.yaml")
	if o, err := run(installed, "check", "--config", example); err == nil || !strings.Contains(o, "fleet.x25519_public") {
		t.Errorf("lockerd check on the example: %v, want it refused for its placeholder fleet keys\n%s", err, o)
	}
	// ... and accepts it edited: the fleet block of a real fleet, a state directory
	// of its own. --offline: the example's serial port is not on this machine.
	raw, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edited := regexp.MustCompile(`(?m)^  x25519_public: .*$`).ReplaceAllString(string(raw), "  x25519_public: "+hex.EncodeToString(x.PublicKey().Bytes()))
	edited = regexp.MustCompile(`(?m)^  ed25519_public: .*$`).ReplaceAllString(edited, "  ed25519_public: "+hex.EncodeToString(ed))
	edited = strings.Replace(edited, "state_dir: /var/lib/lockerd", "state_dir: "+t.TempDir(), 1)
	good := filepath.Join(t.TempDir(), "lockerd.yaml")
	if err := os.WriteFile(good, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if o, err := run(installed, "check", "--offline", "--config", good); err != nil || !strings.Contains(o, ": ok (5 compartments)") {
		t.Errorf("lockerd check on the edited example: %v\n%s", err, o)
	}

	// Remove: the files go, the edited conffile stays; purge: it goes too, with the
	// state directory.
	if err := os.WriteFile(example, []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "var/lib/lockerd"), 0o700); err != nil {
		t.Fatal(err)
	}
	must(dpkg, dpkgArgs("-r", "lockerd")...)
	for _, p := range []string{"usr/bin/lockerd", "usr/lib/systemd/system/lockerd.service", "usr/lib/sysusers.d/lockerd.conf"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s left after remove", p)
		}
	}
	if _, err := os.Stat(example); err != nil {
		t.Errorf("remove took the edited configuration: %v", err)
	}
	must(dpkg, dpkgArgs("-P", "lockerd")...)
	for _, p := range []string{"etc/lockerd/lockerd.yaml", "var/lib/lockerd"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s left after purge", p)
		}
	}
	if o := must(dpkg, "--admindir="+admin, "-l"); strings.Contains(o, "lockerd") {
		t.Errorf("dpkg still knows lockerd after purge:\n%s", o)
	}
}
