package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
)

// TestMain lets the test binary play lockerd's updater in a child process, so that a
// test can SIGKILL it (see TestUpdaterKilled).
func TestMain(m *testing.M) {
	if os.Getenv("UPDATE_TEST_CHILD") != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child runs an order (UPDATE_TEST_MODE run) or resumes one (resume) in the spool
// UPDATE_TEST_SPOOL; the doors are idle while the file UPDATE_TEST_IDLE exists; each
// step is appended to UPDATE_TEST_EVENTS.
func child() int {
	env := os.Getenv
	keys, err := ParseKeys(env("UPDATE_TEST_RELEASE"))
	if err != nil {
		return 2
	}
	events, err := os.OpenFile(env("UPDATE_TEST_EVENTS"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 2
	}
	report := func(e Event) {
		line := string(e.Step)
		if e.Reason != "" {
			line += ":" + string(e.Reason)
		}
		events.WriteString(line + "\n")
		events.Sync()
	}
	u := New(Config{Spool: env("UPDATE_TEST_SPOOL"), Keys: Keys{Release: keys}, MaxSize: 1 << 24, Package: "lockerd",
		Arch: "amd64", Running: "1.0-1", ReadsSchema: 3}, fileIdler(env("UPDATE_TEST_IDLE")), report)
	ctx := context.Background()
	if env("UPDATE_TEST_MODE") == "resume" {
		err = u.Resume(ctx)
	} else {
		var o Order
		var data []byte
		if data, err = os.ReadFile(env("UPDATE_TEST_ORDER")); err == nil {
			err = json.Unmarshal(data, &o)
		}
		if err == nil {
			err = u.Run(ctx, o)
		}
	}
	if err != nil {
		return 1
	}
	return 0
}

type fileIdler string

func (f fileIdler) WaitIdle(ctx context.Context) error {
	for !exists(string(f)) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// TestUpdaterKilled SIGKILLs lockerd's updater (a child process) while it downloads and
// while it waits for the doors; each next start resumes the order: the download goes on
// with a Range request, a package verified before the kill is not fetched again, and the
// request is spooled once the doors are idle.
func TestUpdaterKilled(t *testing.T) {
	_, release, _ := ed25519.GenerateKey(rand.Reader)
	deb := bytes.Repeat([]byte("lockerd package bytes "), 200)
	sum := sha256.Sum256(deb)
	m := Manifest{Typ: ManifestType, Package: "lockerd", Version: "1.1-1", Arch: "amd64",
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(deb)), StoreSchema: 3}
	tok, err := SignManifest(release, "", &m)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	slow, ranges := true, []string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := slow
		if rg := r.Header.Get("Range"); rg != "" {
			ranges = append(ranges, rg)
		}
		mu.Unlock()
		if s { // a trickle, so that the kill lands mid-body
			w.Header().Set("Content-Length", strconv.Itoa(len(deb)))
			for i := 0; i < len(deb); i += 100 {
				w.Write(deb[i:min(i+100, len(deb))])
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(deb))
	}))
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	spool, events, idle := filepath.Join(dir, "spool"), filepath.Join(dir, "events"), filepath.Join(dir, "idle")
	order := filepath.Join(dir, "order.json")
	writeFile(t, dir, "order.json", must(jsonLine(Order{URL: srv.URL + "/l.deb", Version: "1.1-1", SHA256: m.SHA256,
		Manifest: string(tok), Command: "c-1"})))
	start := func(mode string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "UPDATE_TEST_CHILD=1", "UPDATE_TEST_MODE="+mode, "UPDATE_TEST_SPOOL="+spool,
			"UPDATE_TEST_RELEASE="+hex.EncodeToString(release.Public().(ed25519.PublicKey)),
			"UPDATE_TEST_EVENTS="+events, "UPDATE_TEST_IDLE="+idle, "UPDATE_TEST_ORDER="+order)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	kill := func(cmd *exec.Cmd) {
		cmd.Process.Kill() // SIGKILL
		cmd.Wait()
	}
	steps := func() []string {
		data, _ := os.ReadFile(events)
		os.Remove(events)
		return strings.Fields(string(data))
	}
	part, verified := filepath.Join(spool, PartFile), filepath.Join(spool, DebFile("lockerd", "1.1-1", "amd64"))

	// 1: killed while downloading.
	cmd := start("run")
	testenv.Eventually(t, 10*time.Second, "a part downloaded", func() bool {
		st, err := os.Stat(part)
		return err == nil && st.Size() >= 200
	})
	kill(cmd)
	st, _ := os.Stat(part)
	if st.Size() >= int64(len(deb)) || exists(filepath.Join(spool, RequestFile)) || !exists(filepath.Join(spool, OrderFile)) {
		t.Fatalf("after the kill while downloading: part %d of %d bytes, want a part, the order and no request", st.Size(), len(deb))
	}
	if got := steps(); !slices.Equal(got, []string{"downloading"}) {
		t.Errorf("steps before the first kill: %v", got)
	}

	// 2: the next start resumes with a Range request, verifies, and is killed while the
	// doors are busy.
	mu.Lock()
	slow = false
	mu.Unlock()
	cmd = start("resume")
	testenv.Eventually(t, 10*time.Second, "the package verified", func() bool { return exists(verified) })
	time.Sleep(100 * time.Millisecond) // waiting for the doors
	kill(cmd)
	mu.Lock()
	if want := "bytes=" + strconv.FormatInt(st.Size(), 10) + "-"; !slices.Contains(ranges, want) {
		t.Errorf("ranges asked = %v, want %s", ranges, want)
	}
	mu.Unlock()
	if exists(filepath.Join(spool, RequestFile)) {
		t.Fatal("spooled while the doors were busy")
	}
	if got := steps(); !slices.Equal(got, []string{"downloading", "verified"}) {
		t.Errorf("steps before the second kill: %v", got)
	}

	// 3: the doors are idle at the next start: spooled, without a new download.
	writeFile(t, dir, "idle", nil)
	cmd = start("resume")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("resumed updater: %v", err)
	}
	if !exists(filepath.Join(spool, RequestFile)) || exists(filepath.Join(spool, OrderFile)) {
		t.Fatal("want the request spooled and the order gone")
	}
	if got := steps(); !slices.Equal(got, []string{"verified"}) {
		t.Errorf("steps of the last start: %v", got)
	}
}
