// Package waybill turns a scanned or typed tracking (waybill) number into one
// canonical string, so that the locker and the cloud compute the same keyed
// digest from it. It knows the UPU S10 and GS1 SSCC formats well enough to
// check their check digits, accepts other plausible domestic numbers without
// guessing the carrier, and never puts the number itself in an error: a
// tracking number is personal data (architecture §3). The only form of the number
// that may appear in a log or on a screen is Hint.
package waybill

import (
	"errors"
	"strings"
)

// Limits of the accepted input and of a canonical number.
const (
	// MaxRawLen is the longest raw input Normalise looks at, in bytes. Longer
	// input (a garbled 10 kB scan line) is refused before any other work.
	MaxRawLen = 64
	// MinLen is the shortest canonical number.
	MinLen = 8
	// MaxLen is the longest canonical number.
	MaxLen = 30
	// minDigits is how many digits a domestic number needs at least.
	minDigits = 6
)

// Sentinel errors returned by Normalise; compare with errors.Is. Their text
// never includes the input.
var (
	// ErrEmpty means the input was empty or only white space.
	ErrEmpty = errors.New("waybill: empty input")
	// ErrTooLong means the raw input was longer than MaxRawLen bytes.
	ErrTooLong = errors.New("waybill: input too long")
	// ErrCharset means the input held a byte that is not an ASCII letter or
	// digit (after the allowed prefixes, spaces and hyphens were removed).
	ErrCharset = errors.New("waybill: invalid character")
	// ErrCheckDigit means the input has the shape of an S10 or SSCC number
	// but its check digit does not match.
	ErrCheckDigit = errors.New("waybill: check digit does not match")
	// ErrFormat means the input is too short, too long or has too few digits
	// to be a tracking number.
	ErrFormat = errors.New("waybill: not a tracking number")
)

// gs is the ASCII group separator, which scanners send for GS1 FNC1.
const gs = 0x1d

// Normalise trims, strips an AIM symbology prefix ("]C1", "]Q3", "]E0" …:
// ']' + letter + digit/char), removes a GS1 AI "00" before an 18-digit SSCC
// (also when written "(00)"), drops inner spaces and hyphens, upper-cases,
// then validates. It returns the canonical form or an error.
//
// A leading FNC1 (ASCII GS) right after the AIM prefix is dropped as well.
// An 18-digit number, or "00" followed by 18 digits, is taken as an SSCC and
// must carry a valid GS1 check digit; 2 letters, 9 digits and 2 letters is
// taken as an S10 number and must carry a valid S10 check digit.
func Normalise(raw string) (string, error) {
	if len(raw) > MaxRawLen {
		return "", ErrTooLong
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", ErrEmpty
	}
	s = stripAIM(s)
	if s != "" && s[0] == gs {
		s = s[1:]
	}
	s = strings.TrimLeft(s, " ")
	explicitAI := strings.HasPrefix(s, "(00)")
	if explicitAI {
		s = s[len("(00)"):]
	}
	var buf [MaxRawLen]byte
	b := buf[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			return "", ErrCharset
		}
		b = append(b, c)
	}
	if len(b) == 0 {
		return "", ErrEmpty
	}
	switch {
	case explicitAI:
		if !isSSCCShape(b) {
			return "", ErrFormat
		}
	case len(b) == 20 && b[0] == '0' && b[1] == '0' && allDigits(b):
		b = b[2:]
	}
	if _, err := classify(b); err != nil {
		return "", err
	}
	return string(b), nil
}

// stripAIM removes an AIM symbology identifier: ']', a letter (the code
// character) and one letter or digit (the modifier).
func stripAIM(s string) string {
	if len(s) >= 3 && s[0] == ']' && isLetter(s[1]) && (isLetter(s[2]) || isDigit(s[2])) {
		return s[3:]
	}
	return s
}

// classify validates an upper-cased, alphanumeric candidate and says what it
// is. It is the single place where the format rules live.
func classify(b []byte) (Kind, error) {
	if len(b) < MinLen || len(b) > MaxLen {
		return KindUnknown, ErrFormat
	}
	switch {
	case isS10Shape(b):
		if s10Check(b[2:10]) != b[10]-'0' {
			return KindUnknown, ErrCheckDigit
		}
		return KindS10, nil
	case isSSCCShape(b):
		if gs1Check(b[:17]) != b[17]-'0' {
			return KindUnknown, ErrCheckDigit
		}
		return KindSSCC, nil
	}
	digits := 0
	for _, c := range b {
		if isDigit(c) {
			digits++
		}
	}
	if digits < minDigits {
		return KindUnknown, ErrFormat
	}
	return KindDomestic, nil
}

// KindOf says what kind a canonical number is. It returns KindUnknown for a
// string that is not the output of Normalise.
func KindOf(canonical string) Kind {
	if len(canonical) < MinLen || len(canonical) > MaxLen {
		return KindUnknown
	}
	b := []byte(canonical)
	for _, c := range b {
		if !isUpper(c) && !isDigit(c) {
			return KindUnknown
		}
	}
	if len(b) == 20 && b[0] == '0' && b[1] == '0' && allDigits(b) {
		// Normalise would have removed this AI; not canonical.
		return KindUnknown
	}
	k, err := classify(b)
	if err != nil {
		return KindUnknown
	}
	return k
}

// hintChars is the most characters Hint reveals.
const hintChars = 4

// Hint is the masked hint allowed in logs/UI: "…" + at most the last 4
// characters ("…785GB" is WRONG: 4 max → "…85GB").
//
// Hint is meant for canonical numbers. Given anything else it still reveals
// no more than half of the input and only trailing ASCII letters and digits,
// so a mistaken call with raw scanner input cannot leak the whole number.
func Hint(canonical string) string {
	n := min(hintChars, len(canonical)/2)
	start := len(canonical)
	for start > len(canonical)-n && isAlnum(canonical[start-1]) {
		start--
	}
	return "…" + canonical[start:]
}

// s10Check returns the UPU S10 check digit of the 8 serial digits.
func s10Check(serial []byte) byte {
	weights := [8]int{8, 6, 4, 2, 3, 5, 9, 7}
	sum := 0
	for i, c := range serial {
		sum += int(c-'0') * weights[i]
	}
	check := 11 - sum%11
	switch check {
	case 10:
		return 0
	case 11:
		return 5
	}
	return byte(check)
}

// gs1Check returns the GS1 mod-10 check digit of the digits that precede it:
// weights 3 and 1 alternate, starting with 3 at the rightmost digit.
func gs1Check(data []byte) byte {
	sum := 0
	for i := range data {
		d := int(data[len(data)-1-i] - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte((10 - sum%10) % 10)
}

func isS10Shape(b []byte) bool {
	return len(b) == 13 && isUpper(b[0]) && isUpper(b[1]) &&
		allDigits(b[2:11]) && isUpper(b[11]) && isUpper(b[12])
}

func isSSCCShape(b []byte) bool { return len(b) == 18 && allDigits(b) }

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isUpper(c byte) bool  { return c >= 'A' && c <= 'Z' }
func isLetter(c byte) bool { return isUpper(c) || (c >= 'a' && c <= 'z') }
func isAlnum(c byte) bool  { return isLetter(c) || isDigit(c) }
