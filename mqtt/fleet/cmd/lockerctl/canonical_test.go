package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestCourierBodyCanonicalInputs pins the canonical forms docs/privacy.md §2 states
// for what courier-upsert digests: a PIN of 4-12 ASCII digits, leading zeros kept; a
// badge token of 26-128 printable ASCII characters other than space, digested as
// given (no case folding). Anything else is refused before any digest is made.
func TestCourierBodyCanonicalInputs(t *testing.T) {
	cfg, err := loadConfig(testConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{cfg: cfg}
	pos := []string{"L1", "c-1"}
	rights := []protocol.Right{protocol.RightDeposit}
	token := privacy.NewBadgeToken()
	for _, tc := range []struct {
		name, token, pin string
		ok               bool
	}{
		{"4-digit PIN", token, "0123", true},
		{"12-digit PIN", token, "012345678901", true},
		{"3-digit PIN", token, "012", false},
		{"13-digit PIN", token, "0123456789012", false},
		{"PIN with a letter", token, "12a4", false},
		{"PIN with a space", token, "12 34", false},
		{"non-ASCII digits", token, "١٢٣٤", false},
		{"26-character token", strings.Repeat("A", 26), "1234", true},
		{"128-character token", strings.Repeat("~", 128), "1234", true},
		{"25-character token", strings.Repeat("A", 25), "1234", false},
		{"129-character token", strings.Repeat("A", 129), "1234", false},
		{"token with a space", strings.Repeat("A", 13) + " " + strings.Repeat("A", 13), "1234", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := courierBody(e, pos, rights, tc.token, tc.pin)
			if (err == nil) != tc.ok {
				t.Fatalf("courierBody(%q, %q) = %v, want ok %v", tc.token, tc.pin, err, tc.ok)
			}
			if err != nil && !errors.Is(err, errUsage) {
				t.Fatalf("refused, but not as a usage error: %v", err)
			}
		})
	}

	// Digested as given: leading zeros and letter case are part of the input.
	a, _ := courierBody(e, pos, rights, token, "0123")
	b, _ := courierBody(e, pos, rights, token, "123"+"4")
	c, _ := courierBody(e, pos, rights, strings.ToLower(token), "0123")
	if a == nil || b == nil || c == nil {
		t.Fatal("a valid courier refused")
	}
	if a.Verifier == b.Verifier {
		t.Error("PINs 0123 and 1234 give one verifier")
	}
	if a.Badge == c.Badge || a.Verifier == c.Verifier {
		t.Error("a token and its lower-case form give one digest: the token was folded")
	}
}
