// Package keypad reads PIN-pad keys from GPIO: a 4x4 matrix keypad
// (scanned, debounced, idle until a column edge) and Wiegand keypads in
// 4-bit and 8-bit burst key modes. Keys feed an Entry, which accumulates
// digits into a code ('*' clears, '#' enters, a partial entry times out)
// and hands finished codes to a callback. Keys are pickup codes and PINs:
// this package never logs them, only counts.
package keypad

import (
	"errors"
	"fmt"
)

// Key is one key of a PIN pad: '0'-'9', '*', '#', and 'A'-'D' on 4x4 pads.
type Key byte

// Special keys.
const (
	KeyClear Key = '*'
	KeyEnter Key = '#'
)

// Valid reports whether k is a key a pad can send.
func (k Key) Valid() bool {
	return k >= '0' && k <= '9' || k == KeyClear || k == KeyEnter || k >= 'A' && k <= 'D'
}

// IsDigit reports whether k is 0-9.
func (k Key) IsDigit() bool { return k >= '0' && k <= '9' }

// String returns the key as typed. Keys are secrets in aggregate: do not
// log them.
func (k Key) String() string { return string(rune(k)) }

// ErrFrame is wrapped by Wiegand decoding errors.
var ErrFrame = errors.New("keypad: bad wiegand frame")

// Wiegand key codes: 0-9 are the digits, 10 is '*', 11 is '#'.
const (
	wiegandStar = 10
	wiegandHash = 11
)

func wiegandKey(v byte) (Key, bool) {
	switch {
	case v <= 9:
		return Key('0' + v), true
	case v == wiegandStar:
		return KeyClear, true
	case v == wiegandHash:
		return KeyEnter, true
	}
	return 0, false
}

// WiegandCode returns the 4-bit code of a key, for encoders and fakes.
func WiegandCode(k Key) (byte, error) {
	switch {
	case k.IsDigit():
		return byte(k - '0'), nil
	case k == KeyClear:
		return wiegandStar, nil
	case k == KeyEnter:
		return wiegandHash, nil
	}
	return 0, fmt.Errorf("keypad: no wiegand code for key")
}

// DecodeWiegand decodes one burst of bits (each 0 or 1, first received
// first) sent by a keypad for one key press:
//
//	4 bits: the key code, most significant bit first (4-bit burst mode);
//	8 bits: the complement of the code, then the code (8-bit burst mode).
//
// Other lengths (a 26-bit card frame, a truncated burst) and bad
// complements are ErrFrame.
func DecodeWiegand(bits []byte) (Key, error) {
	var v uint
	for _, b := range bits {
		if b > 1 {
			return 0, fmt.Errorf("%w: bit value %d", ErrFrame, b)
		}
		v = v<<1 | uint(b)
	}
	switch len(bits) {
	case 4:
	case 8:
		if hi, lo := v>>4, v&0x0f; hi != ^lo&0x0f {
			return 0, fmt.Errorf("%w: 8-bit burst without its complement", ErrFrame)
		}
		v &= 0x0f
	default:
		return 0, fmt.Errorf("%w: %d bits", ErrFrame, len(bits))
	}
	k, ok := wiegandKey(byte(v))
	if !ok {
		return 0, fmt.Errorf("%w: code %d", ErrFrame, v)
	}
	return k, nil
}

// EncodeWiegand returns the bits a keypad sends for k in 4- or 8-bit mode.
func EncodeWiegand(k Key, mode int) ([]byte, error) {
	c, err := WiegandCode(k)
	if err != nil {
		return nil, err
	}
	var v uint
	switch mode {
	case 4:
		v = uint(c)
	case 8:
		v = uint(^c&0x0f)<<4 | uint(c)
	default:
		return nil, fmt.Errorf("keypad: wiegand mode %d (want 4 or 8)", mode)
	}
	bits := make([]byte, mode)
	for i := range mode {
		bits[i] = byte(v >> (mode - 1 - i) & 1)
	}
	return bits, nil
}
