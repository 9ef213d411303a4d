package waybill

import (
	"errors"
	"testing"
)

var sentinels = []error{ErrEmpty, ErrTooLong, ErrCharset, ErrCheckDigit, ErrFormat}

func FuzzNormalise(f *testing.F) {
	for _, seed := range []string{
		"RB123456785GB", " rb-123 456 785-gb\r\n", "]C100106141411234567897", "(00)106141411234567897",
		"]C1\x1d00106141411234567897", "773012345678901", "ABCDEFG12345", "]Q3", "", "\xff\xfe",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := Normalise(raw)
		if (len(raw) > MaxRawLen) != errors.Is(err, ErrTooLong) {
			t.Fatalf("len %d gave error %v; ErrTooLong iff len > %d", len(raw), err, MaxRawLen)
		}
		if err != nil {
			// Errors are exactly the sentinels: nothing of the input is added.
			for _, s := range sentinels {
				if err == s {
					return
				}
			}
			t.Fatalf("error %v is not a bare sentinel", err)
		}
		if len(got) < MinLen || len(got) > MaxLen {
			t.Fatalf("canonical length %d outside %d..%d", len(got), MinLen, MaxLen)
		}
		again, err := Normalise(got)
		if err != nil || again != got {
			t.Fatalf("Normalise is not idempotent: %q -> %q, %v", got, again, err)
		}
		if KindOf(got) == KindUnknown {
			t.Fatalf("KindOf(%q) = unknown for a canonical number", got)
		}
		if h := Hint(got); len(h) > len("…")+hintChars {
			t.Fatalf("Hint too long: %q", h)
		}
	})
}
