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
