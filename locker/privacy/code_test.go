package privacy

import (
	"crypto/rand"
	"strings"
	"testing"
)

// normaliser is one of the canonical-form functions, for the tables below.
type normaliser struct {
	name   string
	fn     func(string) (string, error)
	lo, hi int
}

var normalisers = []normaliser{
	{"NormaliseCode(L=8)", func(s string) (string, error) { return NormaliseCode(s, 8) }, 8, 12},
	{"NormaliseCode(L=10)", func(s string) (string, error) { return NormaliseCode(s, 10) }, 10, 12},
	{"NormaliseCode(L=0)", func(s string) (string, error) { return NormaliseCode(s, 0) }, MinCodeLen, 12},
	{"NormaliseLegacyCode", NormaliseLegacyCode, 6, 8},
	{"NormaliseLast4", NormaliseLast4, 4, 4},
}

func TestNormaliseDigits(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string // with the white space trimmed; "" when refused whatever the bounds
	}{
		{"four digits", "4321", "4321"},
		{"six digits", "123456", "123456"},
		{"eight digits", "12345678", "12345678"},
		{"ten digits", "1234567890", "1234567890"},
		{"twelve digits", "123456789012", "123456789012"},
		{"thirteen digits", "1234567890123", "1234567890123"},
		{"trimmed", " 1234567\r\n", "1234567"},
		{"leading zeros kept", "00001234", "00001234"},
		{"inner space", "1234 5678", ""},
		{"letter", "1234567a", ""},
		{"non-ascii digit", "١٢٣٤٥٦٧٨", ""},
		{"empty", "", ""},
		{"huge", strings.Repeat("1", 10_000), ""},
	}
	for _, n := range normalisers {
		for _, tt := range tests {
			t.Run(n.name+"/"+tt.name, func(t *testing.T) {
				ok := tt.want != "" && len(tt.want) >= n.lo && len(tt.want) <= n.hi
				got, err := n.fn(tt.raw)
				if (err == nil) != ok || (ok && got != tt.want) {
					t.Fatalf("= %q, %v; want %q, ok=%v", got, err, tt.want, ok)
				}
				if err != nil && err != ErrCodeFormat {
					t.Fatalf("error %v is not ErrCodeFormat", err)
				}
			})
		}
	}
}

func TestNormaliseQR(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"rand.Text", "", ""}, // filled below
		{"lower case", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
		{"digits 2-7", " 234567ABCDEFGHIJKLMNOPQRST\n", "234567ABCDEFGHIJKLMNOPQRST"},
		{"digit 1", "1BCDEFGHIJKLMNOPQRSTUVWXYZ", ""},
		{"digit 8", "8BCDEFGHIJKLMNOPQRSTUVWXYZ", ""},
		{"short", "ABCDEFGHIJKLMNOPQRSTUVWXY", ""},
		{"long", "ABCDEFGHIJKLMNOPQRSTUVWXYZA", ""},
		{"padding", "ABCDEFGHIJKLMNOPQRSTUVWX==", ""},
		{"huge", strings.Repeat("A", 1000), ""},
	}
	tests[0].raw = rand.Text()
	tests[0].want = tests[0].raw
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormaliseQR(tt.raw)
			if (err == nil) != (tt.want != "") || got != tt.want {
				t.Fatalf("NormaliseQR = %q, %v; want %q", got, err, tt.want)
			}
			if err != nil && err != ErrCodeFormat {
				t.Fatalf("error %v is not ErrCodeFormat", err)
			}
		})
	}
}

func FuzzNormaliseCode(f *testing.F) {
	for _, s := range []string{"123456", " 12345678 ", "1234", "12a456", "\x00", "123456789012", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, n := range normalisers {
			got, err := n.fn(raw)
			if err != nil {
				if err != ErrCodeFormat {
					t.Fatalf("%s: error %v is not the bare sentinel", n.name, err)
				}
				continue
			}
			if len(got) < n.lo || len(got) > n.hi {
				t.Fatalf("%s: code of length %d", n.name, len(got))
			}
			if again, err := n.fn(got); err != nil || again != got {
				t.Fatalf("%s: not idempotent: %v", n.name, err)
			}
		}
		got, err := NormaliseQR(raw)
		if err != nil {
			return
		}
		if again, err := NormaliseQR(got); err != nil || again != got || len(got) != QRSecretLen {
			t.Fatalf("NormaliseQR not idempotent: %q %v", got, err)
		}
	})
}
