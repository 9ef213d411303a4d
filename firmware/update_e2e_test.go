package firmware_test

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
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/update"
	"github.com/lockerd/lockerd/firmware/update/updatetest"
	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// TestUpdateOverMQTT is the update flow end to end: update commands from the fleet
// through a real Mosquitto to an in-process lockerd, a loopback artifact server, the
// installer script run as it is against a scratch root with the real dpkg, and the test
// as the supervisor (systemd is not PID 1 here): when the installer restarts lockerd,
// the test stops it and starts it again as the version dpkg now has installed. Refused
// releases (alg none, the command key, tampered bytes, a downgrade), a good release, and
// one that cannot prove healthy (it never reaches the broker) and is rolled back, after
// which the locker still serves the pickup of a parcel deposited before.
func TestUpdateOverMQTT(t *testing.T) {
	root := updatetest.NewRoot(t)
	arch := map[string]string{"arm": "armhf", "386": "i386"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "L-upd"})
	cfg := w.station.Config
	base := t.TempDir()
	_, release, _ := ed25519.GenerateKey(rand.Reader)
	cfg.Update = config.Update{ReleaseKeys: []string{hex.EncodeToString(release.Public().(ed25519.PublicKey))},
		Spool: filepath.Join(base, "spool"), InstallerDir: filepath.Join(base, "installer")}
	debName := func(v string) string { return update.DebFile("lockerd", v, arch) }
	deb := func(v string) []byte {
		return updatetest.Deb(t, v, arch, map[string]string{"usr/share/doc/lockerd/VERSION": v + "\n"})
	}
	root.Install(t, debName("1.0-1"), deb("1.0-1"))

	// The artifact server.
	var mu sync.Mutex
	files := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		data, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	publish := func(v string, key ed25519.PrivateKey) *protocol.UpdateBody {
		data := deb(v)
		sum := sha256.Sum256(data)
		tok, err := update.SignManifest(key, "", &update.Manifest{Typ: update.ManifestType, Package: "lockerd", Version: v,
			Arch: arch, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), StoreSchema: 3})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		files[debName(v)] = data
		mu.Unlock()
		return &protocol.UpdateBody{URL: srv.URL + "/" + debName(v), Version: v, SHA256: protocol.Digest(sum), Manifest: string(tok)}
	}

	// The supervisor: lockerd in this process, as the version dpkg has installed. A
	// version in broken cannot reach the broker, so it never proves healthy.
	saved, goodBroker := firmware.Version, cfg.MQTT.Broker
	t.Cleanup(func() { firmware.Version = saved })
	broken := map[string]bool{}
	var stop func()
	start := func() {
		v := root.Installed(t)
		firmware.Version, cfg.MQTT.Broker = v, goodBroker
		if broken[v] {
			cfg.MQTT.Broker = "mqtts://127.0.0.1:9"
		}
		stop = w.runInProcess(t)
	}
	start()
	ctx := context.Background()
	w.online(ctx, t, "")
	events := &eventLog{t: t, c: w.client}
	steps := func(n int) []string {
		t.Helper()
		var out []string
		for len(out) < n {
			ev := events.await(ctx, protocol.EvUpdate, nil)
			b := ev.Body.(*protocol.UpdateEvent)
			s := string(b.Step)
			if b.Reason != "" {
				s += ":" + b.Reason
			}
			out = append(out, s)
		}
		return out
	}

	// A parcel deposited before any update, picked up after them.
	parcel := w.cloud.NewParcel("S")
	w.provision(ctx, t, "UPDATE-BADGE-ABCDEFGHIJKLMNOPQRSTU", "2468", []sim.Parcel{parcel})
	cl := w.station.Client()
	sid, err := cl.Login(ctx, "UPDATE-BADGE-ABCDEFGHIJKLMNOPQRSTU", "2468")
	if err != nil {
		t.Fatal(err)
	}
	seq0 := w.station.Boards.LastSeq()
	slot, err := cl.Scan(ctx, sid, parcel.Tracking, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := waitShut(ctx, w.station, seq0, slot.Compartment, 8); err != nil {
		t.Fatal(err)
	}

	// Refused releases: the reply says why, and so does an event.
	unsigned := publish("1.1-1", release)
	_, payload, _ := strings.Cut(unsigned.Manifest, ".")
	payload, _, _ = strings.Cut(payload, ".")
	unsigned.Manifest = "eyJhbGciOiJub25lIn0." + payload + "."
	tampered := publish("1.0.5-1", release)
	mu.Lock()
	files[debName("1.0.5-1")] = append(bytes.Clone(files[debName("1.0.5-1")][:100]), make([]byte, len(files[debName("1.0.5-1")])-100)...)
	mu.Unlock()
	for _, tc := range []struct {
		name   string
		body   *protocol.UpdateBody
		status protocol.Status
		detail string
	}{
		{"unsigned", unsigned, protocol.StatusRefused, "unsigned: "},
		{"command key", publish("1.1-1", w.cloud.Signing), protocol.StatusRefused, "command_key: "},
		{"downgrade", publish("0.9-1", release), protocol.StatusRefused, "downgrade: "},
		{"tampered", tampered, protocol.StatusDone, ""},
	} {
		r, err := w.client.Do(ctx, w.station.ID, tc.body)
		if r == nil { // a refusal comes with its reply
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.Status != tc.status || (tc.detail != "" && (r.Reason != protocol.ReasonReleaseRefused || !strings.HasPrefix(r.Detail, tc.detail))) {
			t.Errorf("%s: reply %s/%s %q", tc.name, r.Status, r.Reason, r.Detail)
		}
	}
	if got, want := steps(5), []string{"refused:unsigned", "refused:command_key", "refused:downgrade", "downloading", "refused:digest"}; !slices.Equal(got, want) {
		t.Errorf("refusals: steps %v, want %v", got, want)
	}

	// install runs the installer as the path unit would once the request is spooled,
	// restarting lockerd whenever the installer asks.
	install := func() {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, "request spooled", func() bool {
			_, err := os.Stat(filepath.Join(cfg.Update.Spool, update.RequestFile))
			return err == nil
		})
		restart := filepath.Join(base, "restart")
		cmd := exec.Command("sh", updatetest.Script())
		cmd.Env = append(os.Environ(),
			"LOCKERD_UPDATE_SPOOL="+cfg.Update.Spool, "LOCKERD_UPDATE_DIR="+cfg.Update.InstallerDir,
			"LOCKERD_UPDATE_ROOT="+string(root), "LOCKERD_UPDATE_HEALTH_TIMEOUT=10",
			"LOCKERD_UPDATE_VERIFY="+updatetest.Tool(t)+" verify -release-key "+cfg.Update.ReleaseKeys[0]+
				" -command-key "+w.cloud.SigningPublicHex()+" -arch "+arch+" -reads-schema 3",
			"LOCKERD_UPDATE_RESTART=touch "+restart)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("installer: %v\n%s", err, out.String())
				}
				t.Logf("installer:\n%s", out.String())
				return
			case <-time.After(50 * time.Millisecond):
			}
			if os.Remove(restart) == nil {
				stop()
				start()
			}
		}
	}

	// A good release.
	if r, err := w.client.Do(ctx, w.station.ID, publish("1.1-1", release)); err != nil || r.Status != protocol.StatusDone {
		t.Fatalf("good release: %v %v", r, err)
	}
	if got, want := steps(2), []string{"downloading", "verified"}; !slices.Equal(got, want) {
		t.Errorf("good release: steps %v, want %v", got, want)
	}
	install()
	if got, want := steps(3), []string{"installing", "installed", "healthy"}; !slices.Equal(got, want) {
		t.Errorf("good release: steps %v, want %v", got, want)
	}
	if v := root.Installed(t); v != "1.1-1" {
		t.Fatalf("installed %s, want 1.1-1", v)
	}
	status := func() string {
		t.Helper()
		r, err := w.client.Do(ctx, w.station.ID, &protocol.StatusBody{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := protocol.DecodeResult(protocol.CmdStatus, r.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.(*protocol.StatusResult).Version
	}
	if v := status(); v != "1.1-1" {
		t.Errorf("status says version %q, want 1.1-1", v)
	}

	// A release that never proves healthy.
	broken["1.2-1"] = true
	if r, err := w.client.Do(ctx, w.station.ID, publish("1.2-1", release)); err != nil || r.Status != protocol.StatusDone {
		t.Fatalf("broken release: %v %v", r, err)
	}
	if got, want := steps(2), []string{"downloading", "verified"}; !slices.Equal(got, want) {
		t.Errorf("broken release: steps %v, want %v", got, want)
	}
	install()
	if got, want := steps(3), []string{"installing", "installed", "rolled_back:unhealthy"}; !slices.Equal(got, want) {
		t.Errorf("broken release: steps %v, want %v", got, want)
	}
	if v := root.Installed(t); v != "1.1-1" {
		t.Fatalf("installed %s after the rollback, want 1.1-1", v)
	}
	if v := status(); v != "1.1-1" {
		t.Errorf("status says version %q after the rollback, want 1.1-1", v)
	}
	seq0 = w.station.Boards.LastSeq()
	got, err := cl.PickupCode(ctx, parcel.Code, parcel.Phone)
	if err != nil || len(got.Slots) != 1 {
		t.Fatalf("pickup after the rollback: %v %v", got, err)
	}
	if err := waitShut(ctx, w.station, seq0, got.Slots[0].Compartment, 8); err != nil {
		t.Fatal(err)
	}
}
