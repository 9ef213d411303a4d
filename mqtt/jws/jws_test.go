package jws

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// testKey is deterministic so that failures reproduce byte for byte.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// forge builds a token from a raw header and payload, signed with key, so
// tests can produce headers that Sign would never emit.
func forge(key ed25519.PrivateKey, header, payload string) string {
	input := b64(header) + "." + b64(payload)
	return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(input)))
}

func TestSignVerifyRoundTrip(t *testing.T) {
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	tests := []struct {
		name    string
		kid     string
		payload []byte
	}{
		{name: "json claims", payload: []byte(`{"aud":"L1","jti":"x"}`)},
		{name: "with kid", kid: "fleet-2025", payload: []byte(`{}`)},
		{name: "binary payload", payload: []byte{0, 1, 2, 0xff, '.', '='}},
		{name: "one byte", payload: []byte{'x'}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Sign(key, tc.kid, tc.payload)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if bytes.ContainsAny(tok, "=+/\n") {
				t.Fatalf("token %q is not unpadded base64url", tok)
			}
			got, err := Verify(tok, 0, pub)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !bytes.Equal(got.Payload, tc.payload) || got.Header.Kid != tc.kid || got.Header.Alg != Alg {
				t.Fatalf("got header %+v payload %q", got.Header, got.Payload)
			}
			if want := tok[:bytes.LastIndexByte(tok, '.')]; !bytes.Equal(got.SigningInput(), want) {
				t.Fatalf("signing input %q, want %q", got.SigningInput(), want)
			}
		})
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	oldKey, newKey, other := testKey(1), testKey(2), testKey(3)
	tok, err := Sign(newKey, "new", []byte("p"))
	if err != nil {
		t.Fatal(err)
	}
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	tests := []struct {
		name string
		keys []ed25519.PublicKey
		want error
	}{
		{name: "second key verifies", keys: []ed25519.PublicKey{pub(oldKey), pub(newKey)}},
		{name: "no key verifies", keys: []ed25519.PublicKey{pub(oldKey), pub(other)}, want: ErrBadSignature},
		{name: "no keys", want: ErrKey},
		{name: "short key", keys: []ed25519.PublicKey{pub(newKey)[:31]}, want: ErrKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tok, 0, tc.keys...)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Verify: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	key := testKey(1)
	good := forge(key, `{"alg":"EdDSA"}`, `{"a":1}`)
	parts := strings.Split(good, ".")
	tests := []struct {
		name  string
		token string
		max   int
		want  error
	}{
		{name: "alg none unsigned", token: b64(`{"alg":"none"}`) + "." + b64("{}") + ".", want: ErrUnsupported},
		{name: "alg none signed", token: forge(key, `{"alg":"none"}`, "{}"), want: ErrUnsupported},
		{name: "alg HS256", token: forge(key, `{"alg":"HS256"}`, "{}"), want: ErrUnsupported},
		{name: "alg Ed25519 spelling", token: forge(key, `{"alg":"Ed25519"}`, "{}"), want: ErrUnsupported},
		{name: "alg lower case", token: forge(key, `{"alg":"eddsa"}`, "{}"), want: ErrUnsupported},
		{name: "crit", token: forge(key, `{"alg":"EdDSA","crit":["exp"],"exp":1}`, "{}"), want: ErrUnsupported},
		{name: "b64 false", token: forge(key, `{"alg":"EdDSA","b64":false}`, "{}"), want: ErrUnsupported},
		{name: "embedded jwk", token: forge(key, `{"alg":"EdDSA","jwk":{"kty":"OKP"}}`, "{}"), want: ErrUnsupported},
		{name: "unknown parameter", token: forge(key, `{"alg":"EdDSA","foo":"bar"}`, "{}"), want: ErrUnsupported},
		{name: "kid too long", token: forge(key, `{"alg":"EdDSA","kid":"`+strings.Repeat("k", 129)+`"}`, "{}"), want: ErrUnsupported},
		{name: "alg not a string", token: forge(key, `{"alg":1}`, "{}"), want: ErrMalformed},
		{name: "kid not a string", token: forge(key, `{"alg":"EdDSA","kid":7}`, "{}"), want: ErrMalformed},
		{name: "duplicate alg", token: forge(key, `{"alg":"none","alg":"EdDSA"}`, "{}"), want: ErrMalformed},
		{name: "missing alg", token: forge(key, `{"kid":"a"}`, "{}"), want: ErrMalformed},
		{name: "header is an array", token: forge(key, `["alg","EdDSA"]`, "{}"), want: ErrMalformed},
		{name: "header trailing data", token: forge(key, `{"alg":"EdDSA"}{}`, "{}"), want: ErrMalformed},
		{name: "header not json", token: forge(key, `{alg:EdDSA}`, "{}"), want: ErrMalformed},
		{name: "header invalid utf8", token: forge(key, "{\"alg\":\"EdDSA\",\"kid\":\"\xff\"}", "{}"), want: ErrMalformed},
		{name: "empty payload", token: forge(key, `{"alg":"EdDSA"}`, ""), want: ErrMalformed},
		{name: "padded header", token: parts[0] + "=." + parts[1] + "." + parts[2], want: ErrMalformed},
		{name: "standard alphabet", token: parts[0] + "." + parts[1] + "+." + parts[2], want: ErrMalformed},
		{name: "newline inside", token: parts[0] + "\n." + parts[1] + "." + parts[2], want: ErrMalformed},
		{name: "non-canonical trailing bits", token: parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "B", want: ErrMalformed},
		{name: "two parts", token: parts[0] + "." + parts[1], want: ErrMalformed},
		{name: "four parts", token: good + ".AAAA", want: ErrMalformed},
		{name: "no dots", token: "eyJhbGciOiJFZERTQSJ9", want: ErrMalformed},
		{name: "empty", token: "", want: ErrMalformed},
		{name: "short signature", token: parts[0] + "." + parts[1] + "." + parts[2][:40], want: ErrMalformed},
		{name: "too large checked first", token: strings.Repeat("!", 101), max: 100, want: ErrTooLarge},
		{name: "default limit", token: strings.Repeat("A", DefaultMaxSize+1), want: ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.token), tc.max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse: got %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "jws: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestVerifyRejectsTampering(t *testing.T) {
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	tok, err := Sign(key, "", []byte(`{"aud":"L1"}`))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(tok), ".")
	tests := []struct {
		name  string
		token string
		keys  []ed25519.PublicKey
	}{
		{name: "wrong key", token: string(tok), keys: []ed25519.PublicKey{testKey(9).Public().(ed25519.PublicKey)}},
		{name: "payload swapped", token: parts[0] + "." + b64(`{"aud":"L2"}`) + "." + parts[2], keys: []ed25519.PublicKey{pub}},
		{name: "header swapped", token: b64(`{"alg":"EdDSA","kid":"x"}`) + "." + parts[1] + "." + parts[2], keys: []ed25519.PublicKey{pub}},
		{name: "zero signature", token: parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)), keys: []ed25519.PublicKey{pub}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Verify([]byte(tc.token), 0, tc.keys...); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify: got %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestSignRejects(t *testing.T) {
	tests := []struct {
		name    string
		key     ed25519.PrivateKey
		kid     string
		payload []byte
		want    error
	}{
		{name: "short key", key: testKey(1)[:32], payload: []byte("x"), want: ErrKey},
		{name: "empty payload", key: testKey(1), want: ErrMalformed},
		{name: "long kid", key: testKey(1), kid: strings.Repeat("k", 200), payload: []byte("x"), want: ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Sign(tc.key, tc.kid, tc.payload); !errors.Is(err, tc.want) {
				t.Fatalf("Sign: got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestWeakKeysRefused: crypto/ed25519 verifies a forged signature (R = identity, S = 0)
// under a small-order public key; NewKeys refuses such keys, and non-canonical ones,
// so a mistaken fleet key cannot let anyone sign commands.
func TestWeakKeysRefused(t *testing.T) {
	identity := append([]byte{1}, make([]byte, 31)...)
	forged := append(bytes.Clone(identity), make([]byte, 32)...)
	if !ed25519.Verify(identity, []byte("anything"), forged) {
		t.Fatal("the premise: crypto/ed25519 accepts the forgery under the identity key")
	}
	nonCanonical := bytes.Repeat([]byte{0xff}, 32)
	nonCanonical[31] = 0x7f // y = 2^255 - 1 >= p
	for name, pub := range map[string][]byte{"identity": identity, "zero": make([]byte, 32), "non-canonical": nonCanonical} {
		if _, err := NewKeys(pub); !errors.Is(err, ErrKey) {
			t.Errorf("%s key: %v, want ErrKey", name, err)
		}
	}
	if _, err := NewKeys(testKey(5).Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("an honest key: %v", err)
	}
}
