package privacy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
)

// HKDF labels (the info parameter) of the per-purpose keys. They are part of
// the contract with the cloud: never change them. docs/privacy.md lists them.
const (
	LabelWaybill    = "waybill"
	LabelPickupCode = "pickup-code"
	LabelCourier    = "courier"
	// LabelCourierBadge keys the badge digest (docs/adr/0049-nothing-linkable-at-rest.md).
	LabelCourierBadge = "courier-badge"
	LabelAudit        = "audit"
	// LabelPickupCode2 keys the scheme-2 code verifier: the code and the
	// recipient's phone's last four digits together (ADR 0046).
	LabelPickupCode2 = "pickup-code-2"
	// LabelPickupQR keys the verifier of a pickup QR's secret (ADR 0046).
	LabelPickupQR = "pickup-qr"
	// LabelEvent keys the MAC on every event and reply a locker sends
	// (docs/adr/0050-authenticated-events.md).
	LabelEvent = "event"
	// SaltPrefix is prepended to the locker id to form the HKDF salt.
	SaltPrefix = "lockerd/v1/"
)

// Sentinel errors of key derivation; compare with errors.Is.
var (
	// ErrLowOrderPoint means the X25519 result was all zeros: the peer's
	// public key is a low-order point and no shared secret exists.
	ErrLowOrderPoint = errors.New("privacy: public key is a low-order point")
	// ErrLockerID means the locker id was empty.
	ErrLockerID = errors.New("privacy: empty locker id")
)

// Keys are the per-purpose keys a locker shares with its fleet's cloud.
// Derivation:
//
//	shared = X25519(device private, fleet public)  (reject the all-zero result)
//	each key = HKDF-SHA256(ikm=shared, salt="lockerd/v1/"+lockerID, info=<label>), 32 bytes
//
// with labels "waybill", "pickup-code", "courier", "courier-badge", "audit", "event". Keys is safe for
// concurrent use; its String, GoString and LogValue reveal nothing.
type Keys struct {
	purpose map[Purpose]*[32]byte // one per MACPurposes entry
	audit   [32]byte
	event   [32]byte
}

// DeriveKeys derives the locker's Keys on the device side.
func DeriveKeys(id *Identity, fleetPublic [32]byte, lockerID string) (*Keys, error) {
	if id == nil {
		return nil, errors.New("privacy: derive keys: nil identity")
	}
	return derive(id.private, fleetPublic, lockerID)
}

// DeriveCloudKeys derives on the cloud side the same Keys as DeriveKeys does
// on the device, from the fleet's private key and the device's public key.
func DeriveCloudKeys(fleetPrivate [32]byte, devicePublic [32]byte, lockerID string) (*Keys, error) {
	return derive(fleetPrivate, devicePublic, lockerID)
}

func derive(private, public [32]byte, lockerID string) (*Keys, error) {
	if lockerID == "" {
		return nil, ErrLockerID
	}
	// X25519 returns an error exactly when the result is all zeros.
	shared, err := curve25519.X25519(private[:], public[:])
	if err != nil {
		return nil, ErrLowOrderPoint
	}
	salt := []byte(SaltPrefix + lockerID)
	k := &Keys{purpose: make(map[Purpose]*[32]byte, len(MACPurposes))}
	hkdfKey := func(label string, dst *[32]byte) error {
		if _, err := io.ReadFull(hkdf.New(sha256.New, shared, salt, []byte(label)), dst[:]); err != nil {
			return fmt.Errorf("privacy: hkdf %s: %w", label, err)
		}
		return nil
	}
	for _, p := range MACPurposes {
		k.purpose[p] = new([32]byte)
		if err := hkdfKey(string(p), k.purpose[p]); err != nil {
			return nil, err
		}
	}
	if err := hkdfKey(LabelAudit, &k.audit); err != nil {
		return nil, err
	}
	if err := hkdfKey(LabelEvent, &k.event); err != nil {
		return nil, err
	}
	clear(shared)
	return k, nil
}

// Waybill returns HMAC(waybill key, canonical tracking number). The number
// must be the output of waybill.Normalise.
func (k *Keys) Waybill(canonical string) Digest {
	return mac(k.purpose[PurposeWaybill], []byte(canonical))
}

// CodeVerifier returns the scheme-1 (legacy) verifier HMAC(pickup-code key,
// code digits). The code must be the output of NormaliseLegacyCode.
func (k *Keys) CodeVerifier(code string) Digest {
	return mac(k.purpose[PurposePickupCode], []byte(code))
}

// CodeVerifier2 returns the scheme-2 verifier HMAC(pickup-code-2 key,
// len-prefixed code || len-prefixed last4) (ADR 0046). code must be the output
// of NormaliseCode, last4 of NormaliseLast4.
func (k *Keys) CodeVerifier2(code, last4 string) Digest {
	return mac(k.purpose[PurposePickupCode2], fields(code, last4))
}

// QRVerifier returns HMAC(pickup-qr key, secret), the verifier of a pickup QR.
// secret must be the output of NormaliseQR.
func (k *Keys) QRVerifier(secret string) Digest {
	return mac(k.purpose[PurposePickupQR], []byte(secret))
}

// Courier returns HMAC(courier key, len-prefixed badge || len-prefixed pin):
// each field is preceded by its length in bytes as a 4-byte big-endian
// integer, so no two (badge, pin) pairs share an input.
func (k *Keys) Courier(badge, pin string) Digest {
	return mac(k.purpose[PurposeCourier], fields(badge, pin))
}

// AuditKey returns a copy of the key for the HMAC hash chain of the audit log.
func (k *Keys) AuditKey() []byte {
	out := make([]byte, len(k.audit))
	copy(out, k.audit[:])
	return out
}

// EventKey returns a copy of the key of the MAC on events and replies
// (docs/adr/0050-authenticated-events.md).
func (k *Keys) EventKey() []byte {
	out := make([]byte, len(k.event))
	copy(out, k.event[:])
	return out
}

// String reveals nothing of the keys.
func (k *Keys) String() string { return "privacy.Keys{redacted}" }

// GoString keeps %#v from printing the keys.
func (k *Keys) GoString() string { return k.String() }

// LogValue keeps slog from printing the keys.
func (k *Keys) LogValue() slog.Value { return slog.StringValue(k.String()) }

// GenerateFleetKey returns a new fleet X25519 key pair (for the simulator/cloud
// side and tests).
func GenerateFleetKey() (private, public [32]byte, err error) {
	if _, err = rand.Read(private[:]); err != nil {
		return private, public, fmt.Errorf("privacy: generate fleet key: %w", err)
	}
	pub, err := curve25519.X25519(private[:], curve25519.Basepoint)
	if err != nil {
		return [32]byte{}, public, fmt.Errorf("privacy: fleet public key: %w", err)
	}
	copy(public[:], pub)
	return private, public, nil
}

func writeField(w io.Writer, s string) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(s)))
	w.Write(n[:])
	io.WriteString(w, s)
}

func mac(key *[32]byte, msg []byte) Digest {
	h := hmac.New(sha256.New, key[:])
	h.Write(msg)
	return sum(h)
}

func sum(h hash.Hash) Digest {
	var d Digest
	h.Sum(d[:0])
	return d
}
