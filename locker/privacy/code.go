package privacy

import (
	"errors"
	"strings"
)

// Pickup code lengths accepted by NormaliseCode.
const (
	// MinCodeLen is the fewest digits in a pickup code.
	MinCodeLen = 6
	// MaxCodeLen is the most digits in a pickup code.
	MaxCodeLen = 8
	// maxRawCode bounds the input NormaliseCode looks at, so a garbage line
	// from a keypad or a QR scan costs nothing.
	maxRawCode = 64
)

// ErrCodeFormat is returned by NormaliseCode for anything but 6-8 digits. Its
// text never includes the input.
var ErrCodeFormat = errors.New("privacy: pickup code must be 6-8 digits")

// NormaliseCode returns the canonical form of a pickup code typed on the
// keypad or read from a QR code: surrounding white space is trimmed, and what
// remains must be 6-8 ASCII digits. The result is what CodeVerifier takes.
func NormaliseCode(raw string) (string, error) {
	if len(raw) > maxRawCode {
		return "", ErrCodeFormat
	}
	s := strings.TrimSpace(raw)
	if len(s) < MinCodeLen || len(s) > MaxCodeLen {
		return "", ErrCodeFormat
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", ErrCodeFormat
		}
	}
	return s, nil
}
