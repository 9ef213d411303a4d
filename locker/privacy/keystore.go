package privacy

import (
	"bytes"
	"fmt"
)

// Purpose names one of the keys a locker shares with its cloud: its value is the
// key's HKDF label (docs/privacy.md §3). The keyed digests of guessable inputs are
// computed under these keys, by a KeyStore on the device and by Keys in the cloud.
type Purpose string

// The purposes whose keys a KeyStore computes digests under. The audit and event
// keys are not: they key a hash chain and the MAC of every message sent, at software
// speed, and a KeyStore hands them out (KeyStore.AuditKey, KeyStore.EventKey).
const (
	PurposeWaybill    Purpose = LabelWaybill
	PurposePickupCode Purpose = LabelPickupCode
	PurposeCourier    Purpose = LabelCourier
	// PurposeCourierBadge keys the badge digest a courier record is found by; the
	// PIN verifier stays under PurposeCourier (docs/adr/0049-nothing-linkable-at-rest.md).
	PurposeCourierBadge Purpose = LabelCourierBadge
	// PurposePickupCode2 keys scheme-2 code verifiers (code and phone's last four).
	PurposePickupCode2 Purpose = LabelPickupCode2
	// PurposePickupQR keys the verifiers of pickup QR secrets.
	PurposePickupQR Purpose = LabelPickupQR
)

// MACPurposes lists every Purpose in the order a KeyStore derives and stores them.
// A backend that holds keys (a TPM imports one HMAC key per entry) loops over it, so
// a purpose added here reaches every backend.
var MACPurposes = []Purpose{PurposeWaybill, PurposePickupCode, PurposeCourier,
	PurposeCourierBadge, PurposePickupCode2, PurposePickupQR,
}

// A KeyStore holds a locker's device secrets and computes the keyed digests of
// guessable inputs (ADR 0047). The file backend (Keys, from DeriveKeys) keeps
// everything in RAM, derived from identity.key; a TPM backend (drivers/tpm)
// computes the digests inside the TPM, so that a copy of the card is not enough.
//
// MAC may fail (a TPM that stops answering): callers treat that as a fault, never
// as a wrong code. Implementations are safe for concurrent use and their String,
// GoString and LogValue reveal nothing.
type KeyStore interface {
	// MAC returns HMAC-SHA256(key of p, msg). Use the helpers (WaybillDigest,
	// CodeDigest, CourierDigest) rather than encoding msg by hand.
	MAC(p Purpose, msg []byte) (Digest, error)
	// AuditKey returns a copy of the key of the audit log's hash chain.
	AuditKey() []byte
	// EventKey returns a copy of the key of the MAC every event and reply carries
	// (docs/adr/0050-authenticated-events.md); like the audit key, it is used at
	// software speed.
	EventKey() []byte
	// Exposure says, in one sentence for `lockerd check` and the start log, what a
	// copy of the card (without this device) yields.
	Exposure() string
	// Close releases the store and clears what it holds in memory.
	Close() error
}

// WaybillDigest returns the digest of a canonical tracking number (the output of
// waybill.Normalise).
func WaybillDigest(ks KeyStore, canonical string) (Digest, error) {
	return ks.MAC(PurposeWaybill, []byte(canonical))
}

// CodeDigest returns the scheme-1 (legacy) verifier of a pickup code (the output
// of NormaliseLegacyCode).
func CodeDigest(ks KeyStore, code string) (Digest, error) {
	return ks.MAC(PurposePickupCode, []byte(code))
}

// CodeDigest2 returns the scheme-2 verifier of a pickup code (the output of
// NormaliseCode) and the recipient's phone's last four digits (the output of
// NormaliseLast4), folded together as the cloud does (ADR 0046).
func CodeDigest2(ks KeyStore, code, last4 string) (Digest, error) {
	return ks.MAC(PurposePickupCode2, fields(code, last4))
}

// QRDigest returns the verifier of a pickup QR's secret (the output of NormaliseQR).
func QRDigest(ks KeyStore, secret string) (Digest, error) {
	return ks.MAC(PurposePickupQR, []byte(secret))
}

// CourierDigest returns the PIN verifier of a badge token and PIN (the courier
// credential digest of docs/privacy.md §3).
func CourierDigest(ks KeyStore, badge, pin string) (Digest, error) {
	return ks.MAC(PurposeCourier, fields(badge, pin))
}

// fields encodes strings as the digests take them: each preceded by its length in
// bytes as a 4-byte big-endian integer, so no two tuples share an encoding.
func fields(ss ...string) []byte {
	var b bytes.Buffer
	for _, s := range ss {
		writeField(&b, s)
	}
	return b.Bytes()
}

// MAC computes the digest of msg under the purpose's key in software; it never
// fails for a known purpose.
func (k *Keys) MAC(p Purpose, msg []byte) (Digest, error) {
	key := k.purpose[p]
	if key == nil {
		return Digest{}, fmt.Errorf("privacy: no key for purpose %q", string(p))
	}
	return mac(key, msg), nil
}

// Exposure says what a copy of the card yields with the file backend: everything.
func (k *Keys) Exposure() string {
	return "keys: file — the device keys are on the card: a copy of the card yields every waiting pickup code, tracking number and courier PIN"
}

// Close clears the keys from memory; the Keys must not be used afterwards.
func (k *Keys) Close() error {
	for _, key := range k.purpose {
		clear(key[:])
	}
	clear(k.audit[:])
	clear(k.event[:])
	return nil
}

// PurposeKey returns a copy of the purpose's key, for a KeyStore backend to import
// at enrolment (a TPM takes the key once and never gives it back). Nothing else
// needs it: use MAC.
func (k *Keys) PurposeKey(p Purpose) ([32]byte, bool) {
	key := k.purpose[p]
	if key == nil {
		return [32]byte{}, false
	}
	return *key, true
}

var _ KeyStore = (*Keys)(nil)

// A KeyWrap encrypts and authenticates a key file's contents under a key it holds
// outside the card (a TPM-sealed key in drivers/tpm), so that the file alone is
// worthless: OpenKeyringWrapped takes one for epochs.key. Unwrap fails for data
// wrapped by another KeyWrap or altered.
type KeyWrap interface {
	Wrap(plain, additional []byte) ([]byte, error)
	Unwrap(wrapped, additional []byte) ([]byte, error)
}

// A KeyWrapCommitter is a KeyWrap that replaces its key at every Wrap (a TPM's NV
// index: a copy of a file wrapped before cannot be unwrapped later) and keeps the
// old key until told that the new file is durable: the Keyring calls Committed after
// each durable rewrite of epochs.key, and an error leaves both keys usable.
type KeyWrapCommitter interface {
	KeyWrap
	Committed() error
}
