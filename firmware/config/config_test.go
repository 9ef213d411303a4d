package config

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker"
)

// TestLoadExample: the example that the README installs is refused until its fleet
// keys are edited, and refused for nothing else.
func TestLoadExample(t *testing.T) {
	_, err := Load("testdata/pi4-two-cu16.yaml")
	placeholder := "the example config's placeholder, which belongs to no fleet: pin your fleet's key (lockerctl keygen prints it)"
	if want := "testdata/pi4-two-cu16.yaml: config: fleet.x25519_public (line 8): " + placeholder + "\nconfig: fleet.ed25519_public (line 9): " + placeholder; err == nil || err.Error() != want {
		t.Fatalf("the example as shipped: %v\nwant %s", err, want)
	}
	c, err := Parse([]byte(example(t)))
	if err != nil {
		t.Fatal(err)
	}
	if c.LockerID != "LK-0001" || len(c.Compartments) != 5 || c.Hardware.LockBoards[0].Poll != 150*time.Millisecond {
		t.Fatalf("%+v", c)
	}
	if c.Compartments[4].Door != (Door{Driver: "bus0", Board: 1, Lock: 1}) {
		t.Fatalf("%+v", c.Compartments[4])
	}
	if c.Policy.CodeThrottle.MaxDelay != 30*time.Minute {
		t.Fatalf("%+v", c.Policy)
	}
}

// TestCodeEntryOverride: a code_entry section overrides the default keypad budget,
// key by key.
func TestCodeEntryOverride(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(example(t), "retention: 72h", "retention: 72h\n  code_entry: {min_length: 10, delay: 4s}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Policy.Station().CodeEntry
	if want := (locker.CodeEntry{MinLength: 10, Delay: 4 * time.Second, AlarmFailures: locker.DefaultPolicy().CodeEntry.AlarmFailures}); got != want {
		t.Fatalf("code entry %+v, want %+v", got, want)
	}
}

// example is the example config with its placeholder fleet keys edited, as an
// installer does.
func example(t testing.TB) string {
	b, err := os.ReadFile("testdata/pi4-two-cu16.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return edited(string(b))
}

// Fleet keys that are nobody's placeholder: an X25519 key of 32 arbitrary bytes, and
// an Ed25519 key from a fixed seed (a usable point).
var (
	testX25519  = strings.Repeat("5a", 32)
	testEd25519 = hex.EncodeToString(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey))
)

// edited replaces the example configs' placeholder fleet keys.
func edited(doc string) string {
	return strings.NewReplacer(
		"af108f866cd33f60a564847ba4fde6a7e53bc41f0593b88b2bba948eac88741f", testX25519,
		"ccb0b75de9c7cd9a9f5579de2264d685f9a2d23fe8944ac2f0e1aaade6193e21", testEd25519).Replace(doc)
}

func TestErrorsNameFieldAndLine(t *testing.T) {
	cases := []struct {
		name     string
		old, new string
		want     string // substring of the error, with path and line
	}{
		{"unknown size", "size: M,", "size: XXL,", "compartments[2].size (line 33): must be S, M, L or XL"},
		{"unknown driver", "{driver: bus0, board: 0, lock: 4}", "{driver: bus9, board: 0, lock: 4}", "compartments[3].door.driver (line 34): unknown driver \"bus9\""},
		{"duplicate lock", "{driver: bus0, board: 0, lock: 2}", "{driver: bus0, board: 0, lock: 1}", "compartments[1].door (line 32): lock bus0/0/1 already opens compartment 1"},
		{"undeclared board", "{driver: bus0, board: 1, lock: 1}", "{driver: bus0, board: 7, lock: 1}", "compartments[4].door.board (line 35): board 7 is not declared"},
		{"lock out of range", "board: 1, lock: 1}", "board: 1, lock: 17}", "compartments[4].door.lock (line 35): must be 1..16"},
		{"duplicate id", "id: 17,", "id: 4,", "compartments[4].id (line 35): duplicate compartment id 4"},
		{"bad protocol", "protocol: cu16", "protocol: modbus", "hardware.lockboards[0].protocol (line 22): must be cu16 or 8a"},
		{"duplicate board", "- addr: 1", "- addr: 0", "hardware.lockboards[0].boards[1].addr (line 27): duplicate board address 0"},
		{"bad polarity", "polarity: set-open", "polarity: inverted", "boards[1].polarity (line 29): must be set-closed or set-open"},
		{"bad fleet key", "x25519_public: 5a5a", "x25519_public: zz10", "fleet.x25519_public (line 8): must be 64 hex digits"},
		{"relative state dir", "state_dir: /var/lib/lockerd", "state_dir: lockerd", "state_dir (line 3): must be an absolute path"},
		{"bad locker id", "locker_id: LK-0001", "locker_id: LK/0001/#", "locker_id (line 2): must be 1-64 letters"},
		{"unknown field", "retention: 72h", "retension: 72h", "policy.retension (line 11): unknown key; did you mean retention?"},
		{"wrong type", "retention: 72h", "retention: forever", "policy.retention (line 11): want a duration such as 72h, got forever"},
		{"poll too slow", "poll: 150ms", "poll: 5s", "hardware.lockboards[0].poll (line 23): must be between 50ms and 2s"},
		{"throttle beyond NIST", "max_failures: 5", "max_failures: 500", "policy.code_throttle.max_failures (line 13)"},
		{"published signing key", "ed25519_public: 3b6a27", "ed25519_public: d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a #", "fleet.ed25519_public (line 9): a published test key (RFC 8032 §7.1 test 1)"},
		{"published digest key", "x25519_public: 5a5a", "x25519_public: 8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a #", "fleet.x25519_public (line 8): a published test key (RFC 7748 §6.1, Alice)"},
		{"weak signing key", "ed25519_public: 3b6a27", "ed25519_public: 0100000000000000000000000000000000000000000000000000000000000000 #", "fleet.ed25519_public (line 9): not a usable signing key: a small-order point"},
		{"epoch shorter than the station takes", "retention: 72h", "retention: 72h\n  epoch_length: 30m", "policy (line 10): epoch_length must be at least 1h"},
		{"base delay over the default max", "base_delay: 30s\n    max_delay: 30m", "base_delay: 2h", "policy (line 10): code_throttle needs 0 < base_delay <= max_delay"},
		{"panel idle over session idle", "retention: 72h", "retention: 72h\n  session_idle: 30s", "hardware.panel.idle (line 19): 1m0s is longer than policy.session_idle (30s)"},
		{"reply timeout the driver refuses", "poll: 150ms", "poll: 150ms\n      reply_timeout: 10s", "hardware.lockboards[0].reply_timeout (line 24): must be between 1ms and 5s"},
		{"retries the driver refuses", "poll: 150ms", "poll: 150ms\n      retries: 20", "hardware.lockboards[0].retries (line 24): must be -1 (none) .. 10"},
		{"audit kept too briefly", "retention: 72h", "retention: 72h\n  audit_keep: 1h", "policy.audit_keep (line 12): must be at least 24h"},
		{"codes shorter than the bound allows", "retention: 72h", "retention: 72h\n  code_entry: {min_length: 6}", "policy.code_entry.min_length (line 12): must be 8..12 digits"},
		{"code gate too slow", "retention: 72h", "retention: 72h\n  code_entry: {delay: 30s}", "policy.code_entry.delay (line 12): must be whole seconds in 2s..10s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := example(t)
			if !strings.Contains(doc, tc.old) {
				t.Fatalf("example lacks %q", tc.old)
			}
			_, err := Parse([]byte(strings.Replace(doc, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestMissingRequired(t *testing.T) {
	_, err := Parse([]byte("locker_id: X1\n"))
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("%v", err)
	}
	for _, want := range []string{"state_dir", "fleet.x25519_public", "compartments: at least one"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestNotAConfig(t *testing.T) {
	cases := map[string]string{
		"empty":       "",
		"binary":      "\x00\x01\x02\xff",
		"a list":      "- 1\n- 2\n",
		"bad yaml":    "locker_id: [unclosed\n",
		"tabs indent": "log:\n\tlevel: info\n",
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(doc)); err == nil || !strings.HasPrefix(err.Error(), "config:") {
				t.Fatalf("error = %v", err)
			}
		})
	}
	big := make([]byte, MaxSize+10)
	path := t.TempDir() + "/big.yaml"
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("error = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	doc, err := os.ReadFile("testdata/pi4-two-cu16.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte(example(f)))
	f.Add([]byte(mixed(f)))
	f.Add([]byte(strings.Replace(mixed(f), "d0: GPIO18", "d0: GPIO5", 1)))
	f.Add([]byte("locker_id: X\ncompartments: [{id: 1}]\n"))
	f.Add([]byte("a: &a [*a]"))
	f.Add(append(doc, "keys: tpm\ntpm:\n  device: /dev/tpmrm0\n"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil && (c.LockerID == "" || len(c.Compartments) == 0) {
			t.Fatalf("accepted an invalid config: %+v", c)
		}
	})
}
