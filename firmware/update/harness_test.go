package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/firmware/update/updatetest"
	"github.com/lockerd/lockerd/internal/testenv"
)

// The harness plays what systemd and the package do on a locker: a scratch root with
// the real dpkg, a stub lockerd package that reports its version and (or not) a
// health stamp, a loopback artifact server, lockerd's side (an Updater) and the root
// installer, lockerd-update.sh, run as it is.

// stubDeb builds a lockerd package whose /usr/bin/lockerd writes a health stamp naming
// version into $LOCKERD_STUB_SPOOL when healthy, and nothing otherwise; it also notes
// each start, so a test sees which versions ran.
func stubDeb(t *testing.T, version string, healthy bool) []byte {
	t.Helper()
	stamp := "exit 0"
	if healthy {
		stamp = `printf '%s %s\n' "` + version + `" "$(date +%s)" >"$LOCKERD_STUB_SPOOL/health.tmp" && mv "$LOCKERD_STUB_SPOOL/health.tmp" "$LOCKERD_STUB_SPOOL/health"`
	}
	bin := "#!/bin/sh\n# stub lockerd " + version + "\necho \"" + version + "\" >>\"$LOCKERD_STUB_SPOOL/../started\"\n" + stamp + "\n"
	return updatetest.Deb(t, version, "amd64", map[string]string{"usr/bin/lockerd": bin})
}

// locker is one scratch locker: a dpkg root with a version installed, the spool, root's
// directory, and the keys.
type locker struct {
	t                  *testing.T
	root, spool, dir   string
	release, command   ed25519.PrivateKey
	releaseHex, cmdHex string
	server             *httptest.Server
	files              map[string][]byte
	mu                 sync.Mutex
	events             []Event
	ranges             []string
	env                []string
}

func newLocker(t *testing.T, installed string) *locker {
	t.Helper()
	base := t.TempDir()
	l := &locker{t: t, root: string(updatetest.NewRoot(t)), spool: filepath.Join(base, "lockerd", "update"),
		dir: filepath.Join(base, "lockerd-update"), files: map[string][]byte{}}
	if err := os.MkdirAll(l.spool, 0o755); err != nil {
		t.Fatal(err)
	}
	_, l.release, _ = ed25519.GenerateKey(rand.Reader)
	_, l.command, _ = ed25519.GenerateKey(rand.Reader)
	l.releaseHex = hex.EncodeToString(l.release.Public().(ed25519.PublicKey))
	l.cmdHex = hex.EncodeToString(l.command.Public().(ed25519.PublicKey))
	l.server = httptest.NewServer(http.HandlerFunc(l.serve))
	t.Cleanup(l.server.Close)

	// The installed version, as apt would have left it: installed and in apt's cache.
	updatetest.Root(l.root).Install(t, DebFile("lockerd", installed, "amd64"), stubDeb(t, installed, true))
	l.env = append(os.Environ(),
		"LOCKERD_UPDATE_SPOOL="+l.spool,
		"LOCKERD_UPDATE_DIR="+l.dir,
		"LOCKERD_UPDATE_ROOT="+l.root,
		"LOCKERD_UPDATE_HEALTH_TIMEOUT=2",
		"LOCKERD_UPDATE_VERIFY="+updatetest.Tool(t)+" verify -release-key "+l.releaseHex+" -command-key "+l.cmdHex+" -arch amd64",
		"LOCKERD_UPDATE_RESTART="+filepath.Join(l.root, "usr/bin/lockerd"),
		"LOCKERD_STUB_SPOOL="+l.spool,
	)
	return l
}

// serve is the artifact server: files by name, with Range (http.ServeContent).
func (l *locker) serve(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	data, ok := l.files[strings.TrimPrefix(r.URL.Path, "/")]
	if rg := r.Header.Get("Range"); rg != "" {
		l.ranges = append(l.ranges, rg)
	}
	l.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// publish puts a release on the server and returns its order, its manifest signed by
// key.
func (l *locker) publish(version string, deb []byte, key ed25519.PrivateKey, edit ...func(*Manifest)) Order {
	l.t.Helper()
	sum := sha256.Sum256(deb)
	m := Manifest{Typ: ManifestType, Package: "lockerd", Version: version, Arch: "amd64",
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(deb)), StoreSchema: 3}
	for _, e := range edit {
		e(&m)
	}
	tok, err := SignManifest(key, "", &m)
	if err != nil {
		l.t.Fatal(err)
	}
	name := DebFile("lockerd", version, "amd64")
	l.mu.Lock()
	l.files[name] = deb
	l.mu.Unlock()
	return Order{URL: l.server.URL + "/" + name, Version: version, SHA256: m.SHA256, Manifest: string(tok), Command: "cmd-" + version}
}

// installed is the version dpkg has installed in the scratch root.
func (l *locker) installed() string {
	l.t.Helper()
	out, err := exec.Command("dpkg-query", "--root="+l.root, "-W", "-f", "${Version}", "lockerd").Output()
	if err != nil {
		l.t.Fatalf("dpkg-query: %v", err)
	}
	return string(out)
}

func (l *locker) config() Config {
	keys := Keys{}
	keys.Release, _ = ParseKeys(l.releaseHex)
	keys.Command, _ = ParseKeys(l.cmdHex)
	return Config{Spool: l.spool, Keys: keys, MaxSize: 16 << 20, Package: "lockerd", Arch: "amd64",
		Running: l.installed(), ReadsSchema: 3}
}

func (l *locker) report(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// steps returns the steps reported so far, and forgets them.
func (l *locker) steps() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		s := string(e.Step)
		if e.Reason != "" {
			s += ":" + string(e.Reason)
		}
		out = append(out, s)
	}
	l.events = nil
	return out
}

type idle struct{}

func (idle) WaitIdle(context.Context) error { return nil }

// update runs lockerd's side of an order.
func (l *locker) update(o Order) error {
	l.t.Helper()
	return New(l.config(), idle{}, l.report).Run(testenv.Context(l.t, 30*time.Second), o)
}

// install runs the installer as the path unit would, then lockerd's report of its
// state file (the restarted lockerd does that at start).
func (l *locker) install(extraEnv ...string) (string, error) {
	l.t.Helper()
	cmd := exec.Command("sh", updatetest.Script())
	cmd.Env = append(append([]string{}, l.env...), extraEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// reportState is what a starting lockerd does with the installer's state file.
func (l *locker) reportState() {
	l.t.Helper()
	if err := Report(l.dir, l.spool, l.report); err != nil {
		l.t.Fatal(err)
	}
}

// stamp is the version in the health stamp, "" without one.
func (l *locker) stamp() string {
	data, _ := os.ReadFile(filepath.Join(l.spool, StampFile))
	v, _, _ := strings.Cut(string(data), " ")
	return v
}

func (l *locker) exists(name string) bool {
	_, err := os.Stat(filepath.Join(l.spool, name))
	return err == nil
}

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// started lists the versions the supervisor started, in order.
func (l *locker) started() []string {
	data, _ := os.ReadFile(filepath.Join(filepath.Dir(l.spool), "started"))
	return strings.Fields(string(data))
}
