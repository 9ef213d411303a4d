package privacy

import (
	"crypto/rand"
	"errors"
)

// Badge tokens (docs/adr/0049-nothing-linkable-at-rest.md). A courier's badge carries
// a random token, which the courier shows to the scanner before typing a PIN. The
// locker keeps neither: it files the courier's record under the badge digest
// HMAC(courier-badge key, token), and checks the PIN against the verifier
// HMAC(courier key, token, PIN) inside it. With a token of 128 bits or more, even
// someone who holds the locker's keys cannot find which token a record belongs to,
// so the PIN behind a verifier cannot be searched for offline.
const (
	// MinBadgeLen is the fewest bytes a badge token may have: NewBadgeToken's 26
	// base32 characters carry 130 bits.
	MinBadgeLen = 26
	// MaxBadgeLen is the most bytes a badge token may have.
	MaxBadgeLen = 128
)

// ErrBadgeFormat is returned by CheckBadge. Its text never includes the token.
var ErrBadgeFormat = errors.New("privacy: a badge token must be 26 to 128 printable ASCII characters")

// NewBadgeToken returns a new random badge token: 26 characters of the base32
// alphabet (A-Z, 2-7), 130 bits from crypto/rand.
func NewBadgeToken() string { return rand.Text() }

// CheckBadge refuses a badge token too short to be one of NewBadgeToken's, or
// holding anything but printable ASCII (a QR code's text, without spaces). Length
// is all it can check: a long token of one repeated letter passes, which is why
// tokens are made by NewBadgeToken and nowhere else.
func CheckBadge(token string) error {
	if len(token) < MinBadgeLen || len(token) > MaxBadgeLen {
		return ErrBadgeFormat
	}
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] > '~' {
			return ErrBadgeFormat
		}
	}
	return nil
}

// PIN lengths accepted by CheckPIN: the keypad keeps at most MaxPINLen digits.
const (
	MinPINLen = 4
	MaxPINLen = 12
)

// ErrPINFormat is returned by CheckPIN. Its text never includes the PIN.
var ErrPINFormat = errors.New("privacy: a courier PIN must be 4 to 12 ASCII digits")

// CheckPIN refuses a courier PIN that is not 4-12 ASCII digits (docs/privacy.md §2).
// Leading zeros are significant; nothing is trimmed.
func CheckPIN(pin string) error {
	if len(pin) < MinPINLen || len(pin) > MaxPINLen {
		return ErrPINFormat
	}
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return ErrPINFormat
		}
	}
	return nil
}

// BadgeDigest returns the digest a courier's record is found by: HMAC(courier-badge
// key, token).
func BadgeDigest(ks KeyStore, token string) (Digest, error) {
	return ks.MAC(PurposeCourierBadge, []byte(token))
}

// Badge returns HMAC(courier-badge key, token), as BadgeDigest computes it on the
// device: the cloud sends it in courier-upsert with the PIN verifier (Courier).
func (k *Keys) Badge(token string) Digest {
	return mac(k.purpose[PurposeCourierBadge], []byte(token))
}
