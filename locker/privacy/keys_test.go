package privacy

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestDeviceAndCloudAgree(t *testing.T) {
	fleetPriv, fleetPub, err := GenerateFleetKey()
	if err != nil {
		t.Fatal(err)
	}
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	device, err := DeriveKeys(id, fleetPub, "LK-0042")
	if err != nil {
		t.Fatal(err)
	}
	cloud, err := DeriveCloudKeys(fleetPriv, id.Public(), "LK-0042")
	if err != nil {
		t.Fatal(err)
	}
	if device.audit != cloud.audit {
		t.Fatal("device and cloud derived different audit keys")
	}
	for _, p := range MACPurposes {
		if *device.purpose[p] != *cloud.purpose[p] {
			t.Fatalf("device and cloud derived different %s keys", p)
		}
	}
	other, err := DeriveKeys(id, fleetPub, "LK-0043")
	if err != nil {
		t.Fatal(err)
	}
	if other.CodeVerifier("123456") == device.CodeVerifier("123456") {
		t.Fatal("two locker ids gave the same verifier")
	}
}

func TestKeysArePerPurpose(t *testing.T) {
	k, _ := vectorKeys(t)
	keys := map[[32]byte]string{}
	all := map[string][32]byte{"audit": k.audit}
	for _, p := range MACPurposes {
		all[string(p)] = *k.purpose[p]
	}
	for name, key := range all {
		if prev, dup := keys[key]; dup {
			t.Fatalf("%s and %s keys are equal", name, prev)
		}
		keys[key] = name
	}
	if k.Waybill("12345678") == k.CodeVerifier("12345678") {
		t.Fatal("the same text gives the same digest under two purposes")
	}
}

func TestDeriveErrors(t *testing.T) {
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	var one [32]byte
	one[0] = 1 // u = 1 has order 4: the shared secret is all zeros
	_, fleetPub, err := GenerateFleetKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		pub      [32]byte
		lockerID string
		want     error
	}{
		{"all-zero public key", [32]byte{}, "LK-1", ErrLowOrderPoint},
		{"order-4 public key", one, "LK-1", ErrLowOrderPoint},
		{"empty locker id", fleetPub, "", ErrLockerID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DeriveKeys(id, tt.pub, tt.lockerID); !errors.Is(err, tt.want) {
				t.Fatalf("DeriveKeys error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCourierIsUnambiguous(t *testing.T) {
	k, _ := vectorKeys(t)
	tests := []struct {
		name       string
		badgeA     string
		pinA       string
		badgeB     string
		pinB       string
		wantDiffer bool
	}{
		{"boundary moved", "BADGE-00014", "321", "BADGE-0001", "4321", true},
		{"empty pin", "BADGE-00014321", "", "BADGE-0001", "4321", true},
		{"swapped", "4321", "BADGE-0001", "BADGE-0001", "4321", true},
		{"same", "BADGE-0001", "4321", "BADGE-0001", "4321", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			differ := k.Courier(tt.badgeA, tt.pinA) != k.Courier(tt.badgeB, tt.pinB)
			if differ != tt.wantDiffer {
				t.Fatalf("digests differ = %v, want %v", differ, tt.wantDiffer)
			}
		})
	}
}

func TestSecretsAreNotPrinted(t *testing.T) {
	dp, _ := vectorPrivates()
	id, err := NewIdentity(dp)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := vectorKeys(t)
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	log.Info("x", "id", id, "keys", k)
	outputs := []string{
		fmt.Sprint(id), fmt.Sprintf("%+v", id), fmt.Sprintf("%#v", id),
		fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), logged.String(),
	}
	secrets := []string{
		fmt.Sprintf("%x", dp[:]), fmt.Sprintf("%x", dp[:4]), vecKeyWaybill[:8], vecKeyCode[:8], vecKeyCourier[:8], vecKeyAudit[:8],
	}
	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("output %q contains secret %s", out, s)
			}
		}
	}
	if !strings.Contains(logged.String(), "identity:"+vecDevicePublic[:8]) {
		t.Fatalf("log %q does not name the identity by its public key", logged.String())
	}
}

func TestAuditKeyIsACopy(t *testing.T) {
	k, _ := vectorKeys(t)
	a := k.AuditKey()
	a[0] ^= 0xff
	if k.AuditKey()[0] == a[0] {
		t.Fatal("AuditKey returned the internal array")
	}
}
