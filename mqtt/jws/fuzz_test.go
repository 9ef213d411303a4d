package jws

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser. It must never panic, and
// whatever it accepts must satisfy the package's promises: the size limit,
// alg EdDSA, a 64-byte signature, and a signing input that is a prefix of
// the token.
func FuzzParse(f *testing.F) {
	key := testKey(1)
	good, _ := Sign(key, "k1", []byte(`{"aud":"L1"}`))
	f.Add(good, 0)
	f.Add([]byte(forge(key, `{"alg":"none"}`, "{}")), 0)
	f.Add([]byte(forge(key, `{"alg":"EdDSA","crit":["b64"],"b64":false}`, "{}")), 0)
	f.Add([]byte("a.b.c"), 10)
	f.Add([]byte(".."), 0)
	f.Fuzz(func(t *testing.T, token []byte, max int) {
		max %= 4 * DefaultMaxSize
		tok, err := Parse(token, max)
		if err != nil {
			return
		}
		limit := max
		if limit <= 0 {
			limit = DefaultMaxSize
		}
		if len(token) > limit {
			t.Fatalf("accepted %d bytes over limit %d", len(token), limit)
		}
		if tok.Header.Alg != Alg || len(tok.signature) != ed25519.SignatureSize || len(tok.Payload) == 0 {
			t.Fatalf("accepted a token breaking invariants: %+v", tok.Header)
		}
		if !bytes.HasPrefix(token, tok.signingInput) {
			t.Fatal("signing input is not the received prefix")
		}
	})
}

// FuzzSignVerify checks that every payload Sign accepts round-trips.
func FuzzSignVerify(f *testing.F) {
	f.Add([]byte(`{"typ":"ping"}`), "")
	f.Add([]byte{0}, "kid")
	key := testKey(2)
	pub := key.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, payload []byte, kid string) {
		tok, err := Sign(key, kid, payload)
		if err != nil {
			return
		}
		got, err := Verify(tok, len(tok), pub)
		if err != nil {
			t.Fatalf("Verify of a fresh token: %v", err)
		}
		if !bytes.Equal(got.Payload, payload) || got.Header.Kid != kid {
			t.Fatal("round trip changed the token")
		}
	})
}

// FuzzKeysMatchStdlib holds the prepared-key verifier (curve25519-voi) to
// crypto/ed25519's answers for any key it takes (it refuses weak ones), message and
// signature: the seeds are
// valid signatures and the edge cases where Ed25519 implementations are known to
// disagree (S not reduced, non-canonical and small-order R and A).
func FuzzKeysMatchStdlib(f *testing.F) {
	key := testKey(3)
	pub := key.Public().(ed25519.PublicKey)
	msg := []byte("header.payload")
	sig := ed25519.Sign(key, msg)
	f.Add([]byte(pub), msg, sig)
	f.Add([]byte(pub), []byte("other"), sig)
	f.Add([]byte(pub), msg, addL(sig))                                       // S + L: the same scalar, not reduced
	identity := append([]byte{1}, make([]byte, 31)...)                       // the neutral point, small order
	f.Add(identity, msg, append(bytes.Clone(identity), make([]byte, 32)...)) // R = A = identity, S = 0
	nonCanonical := bytes.Repeat([]byte{0xff}, 32)                           // y >= p
	nonCanonical[31] = 0x7f
	f.Add(nonCanonical, msg, sig)
	f.Add([]byte(pub), msg, append(bytes.Clone(nonCanonical), sig[32:]...))
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		pub = fixed(pub, ed25519.PublicKeySize)
		sig = fixed(sig, ed25519.SignatureSize)
		want := ed25519.Verify(pub, msg, sig)
		k, err := NewKeys(pub)
		if err != nil {
			// Weak keys are refused on purpose (see TestWeakKeysRefused); any other
			// key crypto/ed25519 verifies with must be taken.
			if want && strongKey(pub) == nil {
				t.Fatalf("NewKeys refused a key crypto/ed25519 verifies with: %v", err)
			}
			return
		}
		got := (&Token{signingInput: msg, signature: sig}).VerifyKeys(k) == nil
		if got != want {
			t.Fatalf("prepared keys say %v, crypto/ed25519 says %v\npub %x\nsig %x", got, want, pub, sig)
		}
	})
}

// fixed pads or cuts b to n bytes.
func fixed(b []byte, n int) []byte {
	out := make([]byte, n)
	copy(out, b)
	return out
}

// addL returns sig with L (the group order) added to its S half, little-endian.
func addL(sig []byte) []byte {
	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	out := bytes.Clone(sig)
	carry := 0
	for i := range 32 {
		v := int(out[32+i]) + int(l[i]) + carry
		out[32+i], carry = byte(v), v>>8
	}
	return out
}
