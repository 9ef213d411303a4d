package privacy

import (
	"strings"
	"testing"
)

func TestNormaliseCode(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
		ok   bool
	}{
		{"six digits", "123456", "123456", true},
		{"eight digits", "12345678", "12345678", true},
		{"trimmed", " 1234567\r\n", "1234567", true},
		{"leading zeros kept", "000123", "000123", true},
		{"five digits", "12345", "", false},
		{"nine digits", "123456789", "", false},
		{"inner space", "123 456", "", false},
		{"letter", "12345a", "", false},
		{"non-ascii digit", "١٢٣٤٥٦", "", false},
		{"empty", "", "", false},
		{"huge", strings.Repeat("1", 10_000), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormaliseCode(tt.raw)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("NormaliseCode = %q, %v; want %q, ok=%v", got, err, tt.want, tt.ok)
			}
			if err != nil && err != ErrCodeFormat {
				t.Fatalf("error %v is not ErrCodeFormat", err)
			}
		})
	}
}

func FuzzNormaliseCode(f *testing.F) {
	for _, s := range []string{"123456", " 12345678 ", "1234", "12a456", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := NormaliseCode(raw)
		if err != nil {
			if err != ErrCodeFormat {
				t.Fatalf("error %v is not the bare sentinel", err)
			}
			return
		}
		if len(got) < MinCodeLen || len(got) > MaxCodeLen {
			t.Fatalf("code of length %d", len(got))
		}
		again, err := NormaliseCode(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %v", err)
		}
	})
}
