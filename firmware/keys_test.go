package firmware_test

import (
	"strings"
	"testing"

	"github.com/lockerd/lockerd/drivers/tpm"
	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/config"
)

// TestExposure: what `lockerd check` and the start log say a copy of the card
// yields: with keys: file plainly every code and tracking number, and the broker
// login once there is a cloud link; with keys: tpm the TPM store's sentence.
func TestExposure(t *testing.T) {
	var cfg config.Config
	e := firmware.Exposure(&cfg)
	for _, want := range []string{"keys: file", "a copy of the card yields every waiting pickup code", "tracking number"} {
		if !strings.Contains(e, want) {
			t.Errorf("file exposure %q lacks %q", e, want)
		}
	}
	if strings.Contains(e, "broker") {
		t.Errorf("file exposure without a cloud link names the broker: %q", e)
	}
	cfg.MQTT.Broker = "tcp://127.0.0.1:1883"
	if e := firmware.Exposure(&cfg); !strings.Contains(e, "logs in to the broker as this locker") {
		t.Errorf("file exposure with a cloud link does not name the broker login: %q", e)
	}
	cfg.Keys = config.KeysTPM
	if e := firmware.Exposure(&cfg); e != tpm.Exposure || !strings.Contains(e, "a copy of the card alone yields no pickup code") {
		t.Errorf("tpm exposure: %q", e)
	}
}
