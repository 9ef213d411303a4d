package privacy

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// FuzzParsePublicKey parses arbitrary text as a public key, as it comes from the
// configuration's fleet block or a pinned device key. An accepted key is exactly the
// 64 hex digits it was written as (either case), and the key derivation it feeds
// either works or refuses a low-order point; a refusal is the one sentinel, which
// never repeats the input, with the key left zero.
func FuzzParsePublicKey(f *testing.F) {
	f.Add(vecFleetPublic)
	f.Add(vecDevicePublic)
	f.Add(strings.ToUpper(vecFleetPublic))
	f.Add(vecFleetPublic[:62])
	f.Add("g" + vecFleetPublic[1:])
	f.Add(vecFleetPublic + "0")
	f.Add(" " + vecFleetPublic[1:])
	f.Add(strings.Repeat("0", 64))                                            // low order: all zeros
	f.Add("0100000000000000000000000000000000000000000000000000000000000000") // low order: one
	f.Add("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800") // low order: order 8
	f.Add(strings.Repeat("é", 32))
	id, err := NewIdentity([32]byte{7: 1, 31: 0x40})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePublicKey(s)
		if err != nil {
			if err != ErrPublicKeyFormat || k != [32]byte{} {
				t.Fatalf("ParsePublicKey(%q) = %x, %v", s, k, err)
			}
			if len(s) == 64 && isHex(s) {
				t.Fatalf("ParsePublicKey refused 64 hex digits %q", s)
			}
			return
		}
		if len(s) != 64 || hex.EncodeToString(k[:]) != strings.ToLower(s) {
			t.Fatalf("ParsePublicKey(%q) = %x", s, k)
		}
		keys, err := DeriveKeys(id, k, "LK-FUZZ")
		switch {
		case errors.Is(err, ErrLowOrderPoint):
			if keys != nil {
				t.Fatal("keys returned with a low-order point")
			}
		case err != nil || keys == nil:
			t.Fatalf("DeriveKeys with the parsed key %x: %v", k, err)
		default:
			w := keys.Waybill("RB123456785GB")
			if bytes.Equal(w[:], make([]byte, len(w))) {
				t.Fatalf("the keys derived from %x give a zero digest", k)
			}
		}
	})
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
