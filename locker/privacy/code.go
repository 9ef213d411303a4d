package privacy

import (
	"crypto/rand"
	"errors"
	"strings"
)

// What a recipient types or scans, in canonical form (docs/privacy.md §2, ADR 0046).
const (
	// MinCodeLen and MaxCodeLen bound the code of a scheme-2 verifier: the policy's
	// minimum length (code_entry.min_length) lies between them.
	MinCodeLen = 8
	MaxCodeLen = 12
	// LegacyMinCodeLen and LegacyMaxCodeLen bound a scheme-1 code, announced before
	// ADR 0046 and verified without the phone's digits.
	LegacyMinCodeLen = 6
	LegacyMaxCodeLen = 8
	// Last4Len is the number of phone digits folded into a scheme-2 verifier.
	Last4Len = 4
	// QRSecretLen is the length of a pickup QR's secret: 128 bits in the RFC 4648
	// base32 alphabet, as crypto/rand.Text gives them.
	QRSecretLen = 26
	// maxRawCode bounds the input the normalisers look at, so a garbage line from a
	// keypad or a QR scan costs nothing.
	maxRawCode = 64
)

// ErrCodeFormat is returned by the normalisers for input of the wrong shape. Its
// text never includes the input.
var ErrCodeFormat = errors.New("privacy: pickup code, phone digits or QR secret of the wrong format")

// NormaliseCode returns the canonical form of a pickup code typed on the keypad:
// surrounding white space is trimmed, and what remains must be minLen to
// MaxCodeLen ASCII digits. minLen below MinCodeLen is taken as MinCodeLen. The
// result is what CodeVerifier2 takes.
func NormaliseCode(raw string, minLen int) (string, error) {
	return digits(raw, max(minLen, MinCodeLen), MaxCodeLen)
}

// NormaliseLegacyCode returns the canonical form of a scheme-1 pickup code: 6-8
// ASCII digits after trimming. The result is what CodeVerifier takes.
func NormaliseLegacyCode(raw string) (string, error) {
	return digits(raw, LegacyMinCodeLen, LegacyMaxCodeLen)
}

// NormaliseLast4 returns the canonical form of the phone's last four digits:
// exactly four ASCII digits after trimming.
func NormaliseLast4(raw string) (string, error) {
	return digits(raw, Last4Len, Last4Len)
}

// NewQRSecret returns a new pickup QR secret: 128 random bits from crypto/rand as
// QRSecretLen base32 characters. The recipient's QR encodes "LKQ:" and it.
func NewQRSecret() string { return rand.Text() }

// NormaliseQR returns the canonical form of a pickup QR's secret (what follows
// "LKQ:"): trimmed, upper-cased, exactly QRSecretLen characters of A-Z and 2-7.
func NormaliseQR(raw string) (string, error) {
	if len(raw) > maxRawCode {
		return "", ErrCodeFormat
	}
	s := strings.ToUpper(strings.TrimSpace(raw))
	if len(s) != QRSecretLen {
		return "", ErrCodeFormat
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '2' && s[i] <= '7') {
			return "", ErrCodeFormat
		}
	}
	return s, nil
}

func digits(raw string, lo, hi int) (string, error) {
	if len(raw) > maxRawCode {
		return "", ErrCodeFormat
	}
	s := strings.TrimSpace(raw)
	if len(s) < lo || len(s) > hi {
		return "", ErrCodeFormat
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", ErrCodeFormat
		}
	}
	return s, nil
}
