package firmware_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/sim"
)

// TestBrokenCloudLinkServesOffline: a cloud link that cannot start (its password file
// is missing, then readable by others) does not stop lockerd: it serves offline and
// says why in the log; `lockerd check` (CheckCloudLinkFiles) reports the same problem
// beforehand.
func TestBrokenCloudLinkServesOffline(t *testing.T) {
	cloud, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "mqtt-password")
	for _, tc := range []struct {
		name, want string
		prepare    func()
	}{
		{"missing password file", "no such file", func() {}},
		{"password file readable by others", "readable by others", func() {
			if err := os.WriteFile(pw, []byte("secret\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chmod(pw, 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.prepare()
			st, err := sim.NewStation(sim.StationOptions{LockerID: "OFF-1", Dir: t.TempDir(), Cloud: cloud, Boards: 1, Locks: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			st.Config.MQTT.Broker, st.Config.MQTT.PasswordFile = "tcp://127.0.0.1:1", pw
			st.Config.Control.Admin = false // refused beside a cloud link (ADR 0048)
			if err := firmware.CheckCloudLinkFiles(st.Config); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check: %v; want an error saying %q", err, tc.want)
			}

			var logs testenv.SyncBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			ready := make(chan struct{})
			opt := st.Options()
			opt.Ready = func() { close(ready) }
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- firmware.Run(runCtx, st.Config, log, opt) }()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("lockerd stopped instead of serving offline: %v", err)
			}
			cl := st.Client()
			defer cl.Close()
			if id, err := cl.Identity(ctx); err != nil || id.LockerID != "OFF-1" {
				t.Fatalf("control socket while offline: %+v %v", id, err)
			}
			if !strings.Contains(logs.String(), "cloud link not started") || !strings.Contains(logs.String(), tc.want) {
				t.Fatalf("the log does not say why the link is down:\n%s", logs.String())
			}
			stop()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}
