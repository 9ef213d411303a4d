package firmware

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/firmware/config"
)

// The admin endpoints beside a cloud link are refused at start, before any driver,
// key or store is touched, unless an override says why (ADR 0048).
func TestRunRefusesAdminBesideCloudLink(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // Run sets the process's limit
	state := t.TempDir()
	cfg := &config.Config{LockerID: "LK-T", StateDir: state,
		Control: config.Control{Admin: true},
		MQTT:    config.MQTT{Broker: "tcp://127.0.0.1:1"}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := Run(context.Background(), cfg, log, Options{})
	if err == nil || !strings.Contains(err.Error(), "control.admin is refused while mqtt.broker is set") {
		t.Fatalf("Run with control.admin and mqtt.broker = %v, want the refusal naming both settings", err)
	}
	// Refused before anything was created in the state directory.
	if ents, _ := os.ReadDir(state); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, filepath.Join(state, e.Name()))
		}
		t.Fatalf("refused start left %v behind", names)
	}
}
