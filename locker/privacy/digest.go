// Package privacy holds the locker's key material and the keyed digests that
// are the only form in which pickup codes, courier PINs and tracking numbers
// are stored or sent (architecture §3). A device derives per-purpose keys from its
// own X25519 identity and its fleet's public key; the cloud derives the same
// keys from the device's public key, so both sides compute the same digests
// and no code or number ever crosses the wire. A Keyring of short-lived epoch
// keys seals what the locker stores, so that destroying a key makes old
// records unlinkable even though deleted rows linger on flash.
//
// The derivation, the file formats and test vectors are in docs/privacy.md.
package privacy

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
)

// Digest is a keyed SHA-256 HMAC: the only form in which codes, PINs and
// tracking numbers are stored.
type Digest [32]byte

// ErrDigestFormat is returned by ParseDigest and UnmarshalText for text that
// is not 64 hexadecimal digits.
var ErrDigestFormat = errors.New("privacy: digest is not 64 hex digits")

// shortHex is how many hex digits String reveals.
const shortHex = 8

// String returns a short prefix only: the first 8 hex chars (safe for logs).
func (d Digest) String() string { return hex.EncodeToString(d[:shortHex/2]) }

// LogValue makes slog print the short prefix, as String does.
func (d Digest) LogValue() slog.Value { return slog.StringValue(d.String()) }

// Hex returns the full lowercase hex (wire/storage).
func (d Digest) Hex() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is the zero Digest, which no HMAC produces in
// practice and which therefore marks "no digest".
func (d Digest) IsZero() bool { return d == Digest{} }

// Equal compares two digests in constant time. Use it where a digest is
// checked against a secret-derived value rather than looked up in an index.
func (d Digest) Equal(o Digest) bool { return subtle.ConstantTimeCompare(d[:], o[:]) == 1 }

// ParseDigest decodes the 64 hex digits written by Hex. Upper-case digits are
// accepted; the error never repeats the input.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*len(d) {
		return Digest{}, ErrDigestFormat
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return Digest{}, ErrDigestFormat
	}
	return d, nil
}

// MarshalText encodes d as its full lowercase hex, so it round-trips in JSON
// and as a map key.
func (d Digest) MarshalText() ([]byte, error) {
	out := make([]byte, 2*len(d))
	hex.Encode(out, d[:])
	return out, nil
}

// UnmarshalText decodes the full hex written by MarshalText.
func (d *Digest) UnmarshalText(text []byte) error {
	v, err := ParseDigest(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
