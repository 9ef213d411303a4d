package protocol

import (
	"encoding/hex"
	"fmt"
)

// Digest is a keyed SHA-256 digest (waybill digest, pickup-code verifier,
// courier credential) as it travels: 64 lower-case hex digits in JSON. It has
// the same layout as locker/privacy.Digest, so the two convert directly;
// this package does not import the locker domain.
type Digest [32]byte

// ParseDigest decodes exactly 64 lower-case hex digits. Upper case is
// refused so that every digest has one spelling on the wire; the error never
// repeats the input.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*len(d) {
		return Digest{}, digestError(fmt.Sprintf("want 64 lower-case hex digits, got %d characters", len(s)))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return Digest{}, digestError("want 64 lower-case hex digits")
		}
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return Digest{}, digestError("want 64 lower-case hex digits")
	}
	return d, nil
}

// digestError is a value-free digest refusal. It matches ErrSchema and tells
// the strict decoder to report ProblemBadDigest.
type digestError string

func (e digestError) Error() string        { return "protocol: bad digest: " + string(e) }
func (e digestError) Is(target error) bool { return target == ErrSchema }
func (e digestError) WireProblem() string  { return string(ProblemBadDigest) }
func (e digestError) WireDetail() string   { return string(e) }

// Hex returns the full 64-digit form.
func (d Digest) Hex() string { return hex.EncodeToString(d[:]) }

// String returns a short prefix, enough to correlate in logs and nothing more.
func (d Digest) String() string { return hex.EncodeToString(d[:4]) }

// IsZero reports whether d is all zeros, which marks "no digest".
func (d Digest) IsZero() bool { return d == Digest{} }

// MarshalText encodes the full lower-case hex.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.Hex()), nil }

// UnmarshalText decodes what MarshalText writes.
func (d *Digest) UnmarshalText(b []byte) error {
	v, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
