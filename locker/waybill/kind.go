package waybill

import (
	"errors"
	"fmt"
)

// Kind is the format family of a canonical tracking number. Its values are
// explicit because they may be stored or sent; never renumber them.
type Kind uint8

// The kinds of tracking number.
const (
	// KindUnknown is the zero Kind: not a canonical number.
	KindUnknown Kind = 0
	// KindS10 is a UPU S10 number: 2 letters, 8 digits, a mod-11 check
	// digit, 2 letters (RB123456785GB).
	KindS10 Kind = 1
	// KindSSCC is a GS1 Serial Shipping Container Code: 18 digits, the last
	// a mod-10 check digit.
	KindSSCC Kind = 2
	// KindDomestic is any other number that passes: 8..30 letters and digits
	// with at least 6 digits. The carrier is not guessed.
	KindDomestic Kind = 3
)

var kindNames = [...]string{
	KindUnknown:  "unknown",
	KindS10:      "s10",
	KindSSCC:     "sscc",
	KindDomestic: "domestic",
}

// ErrKind is returned by ParseKind for a name it does not know.
var ErrKind = errors.New("waybill: unknown kind name")

// String returns the stable name of k: "unknown", "s10", "sscc" or
// "domestic".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind is the inverse of Kind.String.
func ParseKind(name string) (Kind, error) {
	for k, n := range kindNames {
		if n == name {
			return Kind(k), nil
		}
	}
	return KindUnknown, ErrKind
}

// MarshalText encodes k as its stable name.
func (k Kind) MarshalText() ([]byte, error) {
	if int(k) >= len(kindNames) {
		return nil, fmt.Errorf("waybill: marshal kind %d: %w", uint8(k), ErrKind)
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText decodes a stable name written by MarshalText.
func (k *Kind) UnmarshalText(text []byte) error {
	v, err := ParseKind(string(text))
	if err != nil {
		return err
	}
	*k = v
	return nil
}
