package privacy_test

import (
	"strings"
	"testing"

	"github.com/lockerd/lockerd/locker/privacy"
)

// The helpers over KeyStore.MAC give exactly what the cloud's Keys methods give: the
// device (any backend) and the cloud must agree on every digest.
func TestKeyStoreHelpersMatchCloudKeys(t *testing.T) {
	id, err := privacy.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	_, fleetPub, err := privacy.GenerateFleetKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := privacy.DeriveKeys(id, fleetPub, "L-1")
	if err != nil {
		t.Fatal(err)
	}
	var ks privacy.KeyStore = k
	w, err := privacy.WaybillDigest(ks, "SF1234567890123")
	if err != nil || w != k.Waybill("SF1234567890123") {
		t.Errorf("WaybillDigest = %x, %v; Keys.Waybill = %x", w, err, k.Waybill("SF1234567890123"))
	}
	c, err := privacy.CodeDigest(ks, "12345678")
	if err != nil || c != k.CodeVerifier("12345678") {
		t.Errorf("CodeDigest = %x, %v; Keys.CodeVerifier = %x", c, err, k.CodeVerifier("12345678"))
	}
	cr, err := privacy.CourierDigest(ks, "badge", "1234")
	if err != nil || cr != k.Courier("badge", "1234") {
		t.Errorf("CourierDigest = %x, %v; Keys.Courier = %x", cr, err, k.Courier("badge", "1234"))
	}
	b, err := privacy.BadgeDigest(ks, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	if err != nil || b != k.Badge("ABCDEFGHIJKLMNOPQRSTUVWXYZ") || b == k.Courier("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "") {
		t.Errorf("BadgeDigest = %x, %v; Keys.Badge = %x", b, err, k.Badge("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
	}
	if _, err := ks.MAC("audit", nil); err == nil {
		t.Error("MAC under the audit label: want an error, the audit key is not a MAC purpose")
	}
	if !strings.Contains(ks.Exposure(), "copy of the card yields") {
		t.Errorf("Exposure = %q: want it to say what a card copy yields", ks.Exposure())
	}
}
