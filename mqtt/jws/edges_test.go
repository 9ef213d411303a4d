package jws

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// TestKidLengthEdge: a kid of exactly maxKidLen bytes is signed and parsed, one byte
// more is refused by both. Mutation testing (docs/testing.md) found the edge
// unguarded.
func TestKidLengthEdge(t *testing.T) {
	key := testKey(1)
	kid := strings.Repeat("k", maxKidLen)
	tok, err := Sign(key, kid, []byte(`{"n":1}`))
	if err != nil {
		t.Fatalf("Sign with a %d-byte kid: %v", len(kid), err)
	}
	parsed, err := Parse(tok, 0)
	if err != nil || parsed.Header.Kid != kid {
		t.Fatalf("Parse of a %d-byte kid: %v", len(kid), err)
	}
	if _, err := Sign(key, kid+"k", []byte(`{"n":1}`)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Sign with a %d-byte kid: %v, want ErrUnsupported", len(kid)+1, err)
	}
	// The same token with a header one byte longer in its kid.
	enc := base64.RawURLEncoding
	long := enc.EncodeToString([]byte(`{"alg":"EdDSA","kid":"` + kid + `k"}`))
	rest := tok[strings.IndexByte(string(tok), '.'):]
	if _, err := Parse(append([]byte(long), rest...), 0); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Parse of a %d-byte kid: %v, want ErrUnsupported", len(kid)+1, err)
	}
}
