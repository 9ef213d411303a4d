package config

import (
	"strings"
	"testing"
	"time"
)

// TestUpdateSection: release keys are checked, and the fleet's command key is refused
// as a release key (a stolen operator key must not be enough to push firmware).
func TestUpdateSection(t *testing.T) {
	ex := example(t)
	fleet := ""
	for _, line := range strings.Split(ex, "\n") {
		if k, ok := strings.CutPrefix(strings.TrimSpace(line), "ed25519_public:"); ok {
			fleet = strings.Trim(strings.TrimSpace(k), `"`)
		}
	}
	if fleet == "" {
		t.Fatal("the example pins no fleet key")
	}
	const release = "62a611b472d89b0e5fc93c069b9f700b4c552d55bc0e87b56008ef17b6b2bebe" // ed25519 from seed 0x4d…: not the example's fleet key
	cfg, err := Parse([]byte(ex + "\nupdate:\n  release_keys: [" + release + "]\n  health_timeout: 90s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Update.Health() != 90*time.Second || cfg.Update.SpoolDir() != DefaultUpdateSpool || cfg.Update.MaxSize() != 64<<20 {
		t.Errorf("update = %+v", cfg.Update)
	}
	for name, tc := range map[string]struct{ yaml, want string }{
		"command key":  {"release_keys: [" + fleet + "]", "update.release_keys[0] (line"},
		"short key":    {"release_keys: [abcd]", "must be 64 hex digits"},
		"relative":     {"spool: spool", "update.spool"},
		"health 1s":    {"health_timeout: 1s", "update.health_timeout"},
		"max size 0.5": {"max_size_mib: 5000", "update.max_size_mib"},
	} {
		_, err := Parse([]byte(ex + "\nupdate:\n  " + tc.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
		if name == "command key" && (err == nil || !strings.Contains(err.Error(), "fleet's command key")) {
			t.Errorf("command key: %v", err)
		}
	}
}
