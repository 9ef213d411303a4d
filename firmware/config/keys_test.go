package config

import (
	"strings"
	"testing"
)

// TestKeys: keys: file | tpm, tpm.device only with tpm and absolute; defaults.
func TestKeys(t *testing.T) {
	base := example(t)
	c, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyStore() != KeysFile {
		t.Fatalf("default key store %q, want file", c.KeyStore())
	}
	c, err = Parse([]byte(base + "keys: tpm\n"))
	if err != nil || c.KeyStore() != KeysTPM || c.TPMDevice() != DefaultTPMDevice {
		t.Fatalf("keys: tpm: %v %+v", err, c)
	}
	c, err = Parse([]byte(base + "keys: tpm\ntpm:\n  device: /dev/tpm0\n"))
	if err != nil || c.TPMDevice() != "/dev/tpm0" {
		t.Fatalf("tpm.device: %v", err)
	}
	for _, tc := range []struct{ add, want string }{
		{"keys: hsm\n", `keys (line `},
		{"keys: tpm\ntpm:\n  device: tpmrm0\n", "tpm.device (line "},
		{"keys: file\ntpm:\n  device: /dev/tpmrm0\n", "tpm.device (line "},
		{"tpm:\n  device: /dev/tpmrm0\n", "only means something with keys: tpm"},
		{"keys: tpm\ntpm:\n  devise: /dev/tpmrm0\n", "tpm.devise (line 38): unknown key; did you mean device?"},
	} {
		_, err := Parse([]byte(base + tc.add))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.add, err, tc.want)
		}
	}
}
