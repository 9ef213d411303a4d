package waybill

import (
	"errors"
	"strings"
	"testing"
)

// The edges of each range the package checks, where an off-by-one hides: the first
// kind with no name, the shortest and longest canonical numbers, and the first and
// last letter of each case. Mutation testing (docs/testing.md) found each unguarded.

func TestKindJustPastTheNames(t *testing.T) {
	past := Kind(len(kindNames))
	if got := past.String(); got != "kind(4)" {
		t.Fatalf("String of the first unnamed kind = %q", got)
	}
	if _, err := past.MarshalText(); !errors.Is(err, ErrKind) {
		t.Fatalf("MarshalText of the first unnamed kind: %v, want ErrKind", err)
	}
	last := Kind(len(kindNames) - 1)
	if text, err := last.MarshalText(); err != nil || string(text) != "domestic" {
		t.Fatalf("MarshalText of the last named kind = %q, %v", text, err)
	}
}

func TestKindOfLengthLimits(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Kind
	}{
		{"shortest", strings.Repeat("1", MinLen), KindDomestic},
		{"one short", strings.Repeat("1", MinLen-1), KindUnknown},
		{"longest", strings.Repeat("1", MaxLen), KindDomestic},
		{"one long", strings.Repeat("1", MaxLen+1), KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.in); got != tt.want {
				t.Fatalf("KindOf of %d digits = %v, want %v", len(tt.in), got, tt.want)
			}
		})
	}
}

func TestLetterEdges(t *testing.T) {
	// Country code "AA" and service "ZZ": the first and last capital letters.
	if got := KindOf("AA123456785ZZ"); got != KindS10 {
		t.Fatalf("KindOf(AA…ZZ) = %v, want s10", got)
	}
	// Hint keeps trailing letters and digits; 'a' and 'z' are letters.
	if got := Hint("yyyyazaz"); got != "…azaz" {
		t.Fatalf("Hint = %q, want …azaz", got)
	}
}
