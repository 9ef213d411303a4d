package waybill

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalise(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
		err  error
	}{
		{"s10 plain", "RB123456785GB", "RB123456785GB", nil},
		{"s10 lower case and spaces", "  rb 123 456 785 gb\r\n", "RB123456785GB", nil},
		{"s10 hyphens", "RB-123456785-GB", "RB123456785GB", nil},
		{"s10 check 10 becomes 0", "EE000000080CN", "EE000000080CN", nil},
		{"s10 check 11 becomes 5", "LX000000155DE", "LX000000155DE", nil},
		{"s10 aim prefix", "]C1RB123456785GB", "RB123456785GB", nil},
		{"s10 aim qr prefix", "]Q3RB123456785GB", "RB123456785GB", nil},
		{"s10 aim lower-case code char", "]d2RB123456785GB", "RB123456785GB", nil},
		{"s10 wrong check", "RB123456784GB", "", ErrCheckDigit},
		{"sscc plain", "106141411234567897", "106141411234567897", nil},
		{"sscc with ai 00", "00106141411234567897", "106141411234567897", nil},
		{"sscc with (00)", "(00)106141411234567897", "106141411234567897", nil},
		{"sscc with (00) and spaces", "(00) 1 0614141 123456789 7", "106141411234567897", nil},
		{"sscc gs1-128 scan", "]C100106141411234567897", "106141411234567897", nil},
		{"sscc gs1-128 scan with fnc1", "]C1\x1d00106141411234567897", "106141411234567897", nil},
		{"sscc wrong check", "106141411234567890", "", ErrCheckDigit},
		{"sscc with ai wrong check", "00106141411234567890", "", ErrCheckDigit},
		{"(00) before non-sscc", "(00)12345678", "", ErrFormat},
		{"domestic digits", "773012345678901", "773012345678901", nil},
		{"domestic mixed", "jd0012345678-901", "JD0012345678901", nil},
		{"domestic 8 chars", "AB123456", "AB123456", nil},
		{"domestic 30 chars", strings.Repeat("1234567890", 3), strings.Repeat("1234567890", 3), nil},
		{"domestic 20 digits", "12345678901234567890", "12345678901234567890", nil},
		{"empty", "", "", ErrEmpty},
		{"blank", " \t\r\n", "", ErrEmpty},
		{"aim prefix only", "]C1", "", ErrEmpty},
		{"too long raw", strings.Repeat("1", MaxRawLen+1), "", ErrTooLong},
		{"too long raw of spaces", strings.Repeat(" ", 10_000), "", ErrTooLong},
		{"64 bytes raw accepted", strings.Repeat(" ", 51) + "RB123456785GB", "RB123456785GB", nil},
		{"too long canonical", strings.Repeat("1", 31), "", ErrFormat},
		{"too short", "1234567", "", ErrFormat},
		{"too few digits", "ABCDEFG12345", "", ErrFormat},
		{"punctuation", "RB123456785GB!", "", ErrCharset},
		{"inner tab", "RB12345\t6785GB", "", ErrCharset},
		{"control byte", "RB1234\x006785GB", "", ErrCharset},
		{"non-ascii", "RB123456785GΒ", "", ErrCharset},
		{"bad aim prefix", "]!1RB123456785GB", "", ErrCharset},
		{"gs inside", "0010614141123456789\x1d7", "", ErrCharset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalise(tt.raw)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Normalise error = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("Normalise = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorsDoNotContainInput(t *testing.T) {
	inputs := []string{"RB123456784GB", "106141411234567890", "SECRET!", "1234567", strings.Repeat("9", 100)}
	for _, raw := range inputs {
		_, err := Normalise(raw)
		if err == nil {
			t.Fatalf("Normalise(%d bytes) succeeded, want error", len(raw))
		}
		if strings.Contains(err.Error(), strings.ToUpper(raw)) || strings.Contains(err.Error(), raw) {
			t.Errorf("error %q contains its input", err)
		}
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Kind
	}{
		{"s10", "RB123456785GB", KindS10},
		{"sscc", "106141411234567897", KindSSCC},
		{"domestic", "773012345678901", KindDomestic},
		{"s10 wrong check", "RB123456784GB", KindUnknown},
		{"lower case is not canonical", "rb123456785gb", KindUnknown},
		{"spaces are not canonical", "RB 123456785GB", KindUnknown},
		{"ai 00 is not canonical", "00106141411234567897", KindUnknown},
		{"too short", "1234567", KindUnknown},
		{"empty", "", KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.in); got != tt.want {
				t.Fatalf("KindOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHint(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"s10", "RB123456785GB", "…85GB"},
		{"sscc", "106141411234567897", "…7897"},
		{"minimum length", "AB123456", "…3456"},
		{"short input reveals half", "123456", "…456"},
		{"tiny input", "1", "…"},
		{"empty", "", "…"},
		{"stops at non-alnum", "RB12345678\n5G", "…5G"},
		{"non-ascii tail", "RB1234567é", "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hint(tt.in); got != tt.want {
				t.Fatalf("Hint = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckDigits(t *testing.T) {
	tests := []struct {
		name string
		fn   func([]byte) byte
		data string
		want byte
	}{
		// RB 12345678 5 GB: 8+12+12+8+15+30+63+56 = 204; 204 mod 11 = 6; 11-6 = 5.
		{"s10 example", s10Check, "12345678", 5},
		{"s10 ten maps to 0", s10Check, "00000008", 0},
		{"s10 eleven maps to 5", s10Check, "00000015", 5},
		// A well-known retail EAN-13, 4006381333931, checks the same algorithm.
		{"gs1 ean-13", gs1Check, "400638133393", 1},
		{"gs1 sscc", gs1Check, "10614141123456789", 7},
		{"gs1 zero", gs1Check, "00000000000000000", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.fn([]byte(tt.data)); got != tt.want {
				t.Fatalf("check digit = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestKindNames(t *testing.T) {
	tests := []struct {
		kind Kind
		name string
	}{
		{KindUnknown, "unknown"},
		{KindS10, "s10"},
		{KindSSCC, "sscc"},
		{KindDomestic, "domestic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.kind.String(); got != tt.name {
				t.Fatalf("String = %q, want %q", got, tt.name)
			}
			back, err := ParseKind(tt.name)
			if err != nil || back != tt.kind {
				t.Fatalf("ParseKind = %v, %v; want %v", back, err, tt.kind)
			}
			text, err := tt.kind.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			var k Kind
			if err := k.UnmarshalText(text); err != nil || k != tt.kind {
				t.Fatalf("text round trip = %v, %v", k, err)
			}
		})
	}
	if _, err := ParseKind("ups"); !errors.Is(err, ErrKind) {
		t.Fatalf("ParseKind(ups) error = %v, want ErrKind", err)
	}
	if got := Kind(9).String(); got != "kind(9)" {
		t.Fatalf("Kind(9).String = %q", got)
	}
}

func BenchmarkNormaliseOversized(b *testing.B) {
	raw := strings.Repeat("A", 10_000)
	for b.Loop() {
		if _, err := Normalise(raw); !errors.Is(err, ErrTooLong) {
			b.Fatal(err)
		}
	}
}

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
