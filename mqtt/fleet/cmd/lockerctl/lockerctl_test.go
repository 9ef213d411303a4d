package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// testConfig writes fresh fleet keys (keygen) and a configuration pinning locker L1.
func testConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := keygen(dir); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "lockerctl.yaml")
	body := "broker: tcp://127.0.0.1:1\nsigning_key: fleet.pem\nx25519_key: fleet-x25519.pem\nlockers:\n  L1: " +
		strings.Repeat("ab", 32) + "\n" + extra
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestConfig(t *testing.T) {
	cfg, err := loadConfig(testConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cfg.fleetConfig()
	if err != nil || cc.SigningKey == nil || cc.Topics.Command("L1") != "lockers/L1/cmd" {
		t.Fatalf("cloud config %+v %v", cc, err)
	}
	if _, err := cfg.keys("L1"); err != nil {
		t.Fatalf("keys of a pinned locker: %v", err)
	}
	if _, err := cfg.keys("L2"); err == nil || !strings.Contains(err.Error(), "not pinned") {
		t.Fatalf("keys of an unpinned locker: %v", err)
	}
	if _, err := loadConfig(testConfig(t, "brokr: x\n")); err == nil || !strings.Contains(err.Error(), "brokr") {
		t.Fatalf("unknown field: %v", err)
	}
	swapped, _ := loadConfig(testConfig(t, ""))
	swapped.SigningKey, swapped.X25519Key = swapped.X25519Key, swapped.SigningKey
	if _, err := swapped.fleetConfig(); err == nil || !strings.Contains(err.Error(), "Ed25519") {
		t.Fatalf("X25519 key as the signing key: %v", err)
	}
	if _, err := swapped.keys("L1"); err == nil || !strings.Contains(err.Error(), "X25519") {
		t.Fatalf("Ed25519 key as the X25519 key: %v", err)
	}
	dir := t.TempDir()
	if _, err := keygen(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := keygen(dir); err == nil {
		t.Fatal("keygen overwrote existing keys")
	}
	if err := os.Remove(filepath.Join(dir, "fleet-x25519.pem")); err != nil {
		t.Fatal(err)
	}
	if _, err := keygen(dir); err == nil {
		t.Fatal("keygen made half a fleet next to an existing signing key")
	}
	if _, err := os.Stat(filepath.Join(dir, "fleet-x25519.pem")); err == nil {
		t.Fatal("keygen wrote a key it refused to print")
	}
	loose, _ := loadConfig(testConfig(t, ""))
	if err := os.Chmod(loose.SigningKey, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loose.fleetConfig(); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("a world-readable key: %v", err)
	}
	pinned, _ := loadConfig(testConfig(t, "lockers_file: pins.yaml\n"))
	if err := os.WriteFile(filepath.Join(filepath.Dir(pinned.SigningKey), "pins.yaml"), []byte("L7: "+strings.Repeat("cd", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pinned.keys("L7"); err != nil {
		t.Fatalf("a locker pinned in lockers_file: %v", err)
	}
	clash, _ := loadConfig(testConfig(t, "lockers_file: pins.yaml\n"))
	if err := os.WriteFile(filepath.Join(filepath.Dir(clash.SigningKey), "pins.yaml"), []byte("L1: "+strings.Repeat("cd", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := clash.keys("L1"); err == nil || !strings.Contains(err.Error(), "another key") {
		t.Fatalf("a locker pinned twice to different keys: %v", err)
	}
	cluster, _ := loadConfig(testConfig(t, "brokers: [tcp://127.0.0.1:2, mqtt://127.0.0.1:3]\n"))
	if cc, err := cluster.fleetConfig(); err != nil || !slices.Equal(cc.Brokers, []string{"tcp://127.0.0.1:2", "mqtt://127.0.0.1:3"}) {
		t.Fatalf("brokers: %v %v", cc.Brokers, err)
	}
	mixed, _ := loadConfig(testConfig(t, "brokers: [ssl://127.0.0.1:2]\n"))
	if _, err := mixed.fleetConfig(); err == nil || !strings.Contains(err.Error(), "every node must use TLS or none") {
		t.Fatalf("a TLS node beside a plain one: %v", err)
	}
	tlsOnTCP, _ := loadConfig(testConfig(t, "tls: {ca: ca.pem}\n"))
	if _, err := tlsOnTCP.fleetConfig(); err == nil || !strings.Contains(err.Error(), "not ssl://") {
		t.Fatalf("tls files with a tcp:// broker: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "fleet.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
}

func TestUsageErrorsSendNothing(t *testing.T) {
	cfg := testConfig(t, "") // its broker does not exist: anything that tried to send would fail with 1
	for _, tc := range []struct {
		args  []string
		stdin string
	}{
		{[]string{"open", "L1", "0", "-operator", "x"}, ""},
		{[]string{"open", "L1"}, ""},
		{[]string{"announce", "L1", "-", "-batch", "101"}, "parcel,tracking,size\n"},
		{[]string{"announce", "L1", "-"}, "parcel,tracking,size\n"},
		{[]string{"announce", "L1", "-"}, "parcel,size\np-1,S\n"},
		{[]string{"set-code", "L1", "p-1"}, ""},
		{[]string{"courier-upsert", "L1", "c-1", "-rights", "fly"}, "B\n1\n"},
		{[]string{"send", "L1", "nonsense", "-"}, "{}"},
		{[]string{"announce", "L1", "-"}, "parcel,tracking,size\np-1,RB987654326GB,S\np-1,RA000000005DE,M\n"},
		{[]string{"courier-upsert", "L1", "c-1"}, "BADGE\n\n"},
		{[]string{"courier-upsert", "L1", "c-1"}, "\n1234\n"},
		{[]string{"courier-upsert", "L1", "c-1"}, "BADGE\n1234567890123\n"},
		{[]string{"courier-upsert", "L1", "c-1"}, "LKB:\n1234\n"},
		{[]string{"courier-upsert", "L1", "c-1"}, "LKB:BADGE-0001\n1234\n"}, // a token of 10 characters
		{[]string{"courier-upsert", "L1", "c-1"}, strings.Repeat("B", 25) + "\n1234\n"},
		{[]string{"courier-new", "L1", "c-1"}, "12\n"},
		{[]string{"courier-new", "L1", "c-1"}, ""},
		{[]string{"courier-new", "L1"}, "1234\n"},
		{[]string{"courier-upsert", "L1", "c-1"}, strings.Repeat("B", 129) + "\n1234\n"},
		{[]string{"events", "-n", "-1"}, ""},
		{[]string{"resolve", "L1", "3", "-operator", "op-1"}, ""},
		{[]string{"resolve", "L1", "3", "-present", "-absent", "-operator", "op-1"}, ""},
		{[]string{"nonsense"}, ""},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"-config", cfg}, tc.args...), strings.NewReader(tc.stdin), &out, &errb)
		if code != 2 || out.Len() != 0 || !strings.HasPrefix(errb.String(), "lockerctl: usage") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and a usage error", tc.args, code, out.String(), errb.String())
		}
	}
}

// FuzzReadParcels: any CSV either gives parcels that are valid announce entries or an
// error that names a row, never the row's contents (checked for fields of 8 or more
// characters with a digit: the shape of codes and tracking numbers).
func FuzzReadParcels(f *testing.F) {
	f.Add("parcel,tracking,code,size\np-1,RB987654326GB,48213377,S\n")
	f.Add("parcel,tracking,size,expires\np-1,100000000002,M,2030-01-02T03:04:05Z\n")
	f.Add("parcel,tracking,size\n\"p-1,RB9\n")
	f.Add("size,tracking,parcel\nXL,RA000000005DE,p 2\n")
	f.Add("\ufeffparcel,tracking,size\np-1,RB987654326GB,S\np-1,RA000000005DE,M\n")
	var fleetX, device [32]byte
	fleetX[0], device[0] = 1, 9
	keys, err := fleet.DeriveKeys(fleetX, device, "L1")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ps, err := readParcels(strings.NewReader(in), keys)
		if err != nil {
			for _, line := range strings.Split(in, "\n")[1:] {
				for _, field := range strings.Split(line, ",") {
					if len(field) >= 8 && strings.ContainsAny(field, "0123456789") && strings.Contains(err.Error(), field) {
						t.Fatalf("error %q quotes the input %q", err, field)
					}
				}
			}
			return
		}
		if err := (&protocol.AnnounceBody{Parcels: ps[:min(len(ps), protocol.MaxAnnounceBatch)]}).Validate(); err != nil {
			t.Fatalf("accepted parcels the protocol refuses: %v", err)
		}
	})
}

func TestReadParcelsSpreadsheetHeader(t *testing.T) {
	var fleetX, device [32]byte
	fleetX[0], device[0] = 1, 9
	keys, err := fleet.DeriveKeys(fleetX, device, "L1")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := readParcels(strings.NewReader("\ufeffParcel,Tracking,Code,Phone,Size\r\np-1,RB987654326GB,48213377,4321,S\r\n"), keys)
	if err != nil || len(ps) != 1 || ps[0].Parcel != "p-1" || ps[0].CodeVerifier == nil || ps[0].Verifier != nil {
		t.Fatalf("a spreadsheet's CSV (BOM, CRLF, capitals): %+v %v", ps, err)
	}
}

// TestReadParcelsSpreadsheetExports: a BOM before a quoted header, blank lines and
// empty trailing rows (as spreadsheets export) are read; errors name the line of the
// file, blank lines counted.
func TestReadParcelsSpreadsheetExports(t *testing.T) {
	var fleetX, device [32]byte
	fleetX[0], device[0] = 1, 9
	keys, err := fleet.DeriveKeys(fleetX, device, "L1")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := readParcels(strings.NewReader("\ufeff\"parcel\",\"tracking\",\"size\"\n\"p-1\",\"RB987654326GB\",\"S\"\n\np-2,RA000000005DE,M\n,,\n,,\n"), keys)
	if err != nil || len(ps) != 2 || ps[1].Parcel != "p-2" {
		t.Fatalf("a spreadsheet export: %d parcels, %v", len(ps), err)
	}
	_, err = readParcels(strings.NewReader("parcel,tracking,size\n\n\np-1,RB987654326GB,S\n\np-2,RA000000005DE,XXL\n"), keys)
	if err == nil || !strings.Contains(err.Error(), "line 6:") {
		t.Fatalf("error %v: want it to name line 6", err)
	}
}

// FuzzParseConfig: any file either parses into a configuration with what every command
// needs (a broker, a signing key, a positive timeout, absolute paths) or is refused.
func FuzzParseConfig(f *testing.F) {
	f.Add("broker: tcp://127.0.0.1:1883\nsigning_key: fleet.pem\n")
	f.Add("broker: ssl://b:8883\ntls: {ca: ca.pem}\nsigning_key: /k.pem\nlockers: {L1: ab}\ntimeout: 5s\n")
	f.Add("broker: [\n")
	f.Add("timeout: -1s\nbroker: x\nsigning_key: k\n")
	f.Fuzz(func(t *testing.T, data string) {
		c, err := parseConfig([]byte(data), "/etc/lockerctl/lockerctl.yaml")
		if err != nil {
			return
		}
		if c.Broker == "" || c.SigningKey == "" || c.Timeout <= 0 || c.Prefix == "" {
			t.Fatalf("accepted an incomplete configuration: %+v", c)
		}
		for _, p := range []string{c.SigningKey, c.X25519Key, c.PasswordFile, c.TLS.CA, c.TLS.Cert, c.TLS.Key, c.LockersFile} {
			if p != "" && !filepath.IsAbs(p) {
				t.Fatalf("relative path %q left relative", p)
			}
		}
	})
}
