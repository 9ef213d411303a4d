package jws

import (
	"crypto/ed25519"
	"testing"
)

// BenchmarkVerify compares a command-sized token's verification with prepared keys
// (what the link uses) against crypto/ed25519, in the same run.
func BenchmarkVerify(b *testing.B) {
	key := testKey(4)
	pub := key.Public().(ed25519.PublicKey)
	raw, err := Sign(key, "", make([]byte, 400))
	if err != nil {
		b.Fatal(err)
	}
	tok, err := Parse(raw, 0)
	if err != nil {
		b.Fatal(err)
	}
	keys, err := NewKeys(pub)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			if tok.Verify(pub) != nil {
				b.Fatal("does not verify")
			}
		}
	})
	b.Run("prepared", func(b *testing.B) {
		for b.Loop() {
			if tok.VerifyKeys(keys) != nil {
				b.Fatal("does not verify")
			}
		}
	})
}
