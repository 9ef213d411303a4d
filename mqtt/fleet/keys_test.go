package fleet

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/canary"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/mqtt/jws"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestKeysMatchTheDevice derives the keys on both sides and checks that
// what the cloud sends is what the device computes from a scan or a keypad.
func TestKeysMatchTheDevice(t *testing.T) {
	fleetPriv, fleetPub, err := privacy.GenerateFleetKey()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := privacy.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	device, err := privacy.DeriveKeys(dev, fleetPub, "L1")
	if err != nil {
		t.Fatal(err)
	}
	cloudKeys, err := DeriveKeys(fleetPriv, dev.Public(), "L1")
	if err != nil {
		t.Fatal(err)
	}
	otherLocker, err := DeriveKeys(fleetPriv, dev.Public(), "L2")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		raw      string // as the cloud has it
		scanned  string // canonical, as the device has it after a scan
		wantHint string
	}{
		{name: "S10", raw: "RB123456785GB", scanned: "RB123456785GB", wantHint: "…85GB"},
		{name: "lower case with spaces", raw: " rb 1234 5678 5gb ", scanned: "RB123456785GB", wantHint: "…85GB"},
		{name: "domestic digits", raw: "773012345678901", scanned: "773012345678901", wantHint: "…8901"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, hint, err := cloudKeys.Waybill(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if d != protocol.Digest(device.Waybill(tc.scanned)) || hint != tc.wantHint {
				t.Fatalf("digest or hint %q differs from the device's", hint)
			}
			if o, _, _ := otherLocker.Waybill(tc.raw); o == d {
				t.Fatal("two lockers share a waybill digest")
			}
		})
	}
	v, err := cloudKeys.CodeVerifier("123456")
	if err != nil || v != protocol.Digest(device.CodeVerifier("123456")) {
		t.Fatalf("code verifier differs: %v", err)
	}
	const token = "BADGE-1-ABCDEFGHIJKLMNOPQR"
	if b, v, err := cloudKeys.Courier(token, "9876"); err != nil || b != protocol.Digest(device.Badge(token)) ||
		v != protocol.Digest(device.Courier(token, "9876")) {
		t.Fatalf("courier digests differ: %v", err)
	}
	if _, _, err := cloudKeys.Courier("badge-1", "9876"); err == nil {
		t.Fatal("a badge token of 7 characters was digested")
	}
	v2, err := cloudKeys.CodeVerifier2("12345678", "4321")
	if err != nil || v2 != protocol.Digest(device.CodeVerifier2("12345678", "4321")) {
		t.Fatalf("scheme-2 code verifier differs: %v", err)
	}
	qr := NewQRSecret()
	vq, err := cloudKeys.QRVerifier(qr)
	if err != nil || vq != protocol.Digest(device.QRVerifier(qr)) {
		t.Fatalf("QR verifier differs: %v", err)
	}
	p, err := cloudKeys.Parcel("p-1", "RB123456785GB", Secrets{Code: "12345678", Phone: "4321", QR: qr}, protocol.SizeM, time.Unix(1800000000, 0))
	if err != nil || p.Verifier != nil || p.CodeVerifier == nil || *p.CodeVerifier != v2 || p.QRVerifier == nil || *p.QRVerifier != vq || p.Hint != "…85GB" {
		t.Fatalf("Parcel = %+v, %v", p, err)
	}
	if err := (&protocol.AnnounceBody{Parcels: []protocol.AnnouncedParcel{p}}).Validate(); err != nil {
		t.Fatalf("announce built by Keys does not validate: %v", err)
	}
}

func TestKeysRefuseBadInputWithoutEchoingIt(t *testing.T) {
	fleetPriv, _, _ := privacy.GenerateFleetKey()
	dev, _ := privacy.GenerateIdentity()
	k, err := DeriveKeys(fleetPriv, dev.Public(), "L1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		call   func() error
		canary string
	}{
		{name: "bad S10 check digit", canary: "RB123456784GB", call: func() error { _, _, err := k.Waybill("RB123456784GB"); return err }},
		{name: "garbage tracking number", canary: "1380013@8000", call: func() error { _, _, err := k.Waybill("1380013@8000"); return err }},
		{name: "short code", canary: "12345", call: func() error { _, err := k.CodeVerifier("12345"); return err }},
		{name: "parcel with bad code", canary: "12a45678", call: func() error {
			_, err := k.Parcel("p", "RB123456785GB", Secrets{Code: "12a45678", Phone: "4321"}, protocol.SizeS, time.Time{})
			return err
		}},
		{name: "code without phone digits", canary: "48213377", call: func() error {
			_, err := k.Parcel("p", "RB123456785GB", Secrets{Code: "48213377"}, protocol.SizeS, time.Time{})
			return err
		}},
		{name: "bad QR secret", canary: "NOTAQRSECRET0189", call: func() error { _, err := k.QRVerifier("NOTAQRSECRET0189"); return err }},
	}
	// The errors are scanned through internal/canary, every spelling of each input.
	// Its harness refuses a canary under canary.MinLen bytes (one that short turns up
	// by chance in longer text): the short code is looked for in its own error alone.
	long := map[string]string{}
	var errs canary.Record
	for _, tc := range tests {
		err := tc.call()
		if err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		if len(tc.canary) < canary.MinLen {
			if f, found := canary.Find([]byte(err.Error()), tc.canary); found {
				t.Errorf("%s: the error holds the input (%s)", tc.name, f)
			}
			continue
		}
		long[tc.name] = tc.canary
		errs.Add(tc.name, []byte(err.Error()))
	}
	h, err := canary.New(long)
	if err != nil {
		t.Fatal(err)
	}
	s := errs.Surface("key errors", canary.KindError)
	s.MinItems = len(long)
	if err := h.Register(s); err != nil {
		t.Fatal(err)
	}
	h.Check(t)
	if s := k.String(); strings.Contains(s, "waybill") && !strings.Contains(s, "redacted") {
		t.Fatal("Keys.String leaks")
	}
	if _, err := DeriveKeys(fleetPriv, [32]byte{}, "L1"); err == nil {
		t.Fatal("a low-order device key was accepted")
	}
}

func TestSign(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	iat := time.Unix(1700000000, 0)
	cmd, err := Sign(key, "fleet-1", "L1", "c-1", &protocol.CancelBody{Parcel: "p-1"}, iat, iat.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Verify(cmd.Token, 0, key.Public().(ed25519.PublicKey))
	if err != nil || tok.Header.Kid != "fleet-1" {
		t.Fatalf("verify: %v", err)
	}
	got, err := protocol.DecodeCommand(tok.Payload)
	if err != nil || got.Jti != "c-1" || got.Aud != "L1" || got.Parsed.(*protocol.CancelBody).Parcel != "p-1" {
		t.Fatalf("decode: %+v, %v", got, err)
	}
	if cmd.Ref != protocol.CommandRef(cmd.Token) || !cmd.Expires.Equal(iat.Add(time.Minute)) {
		t.Fatal("ref or expiry")
	}
	bad := []struct {
		name string
		key  ed25519.PrivateKey
		body protocol.Body
	}{
		{name: "invalid body", key: key, body: &protocol.CancelBody{}},
		{name: "short key", key: key[:10], body: &protocol.PingBody{}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Sign(tc.key, "", "L1", "c", tc.body, iat, iat.Add(time.Minute)); err == nil {
				t.Fatal("signed")
			}
		})
	}
	if e := (&ReplyError{Reply: &protocol.Reply{ID: "c", Status: protocol.StatusRefused, Reason: protocol.ReasonNotFound}}); !IsStatus(e, protocol.StatusRefused) || !errors.As(error(e), new(*ReplyError)) {
		t.Fatal("ReplyError")
	}
}
