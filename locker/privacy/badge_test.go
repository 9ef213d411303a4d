package privacy

import (
	"strings"
	"testing"
)

func TestCheckBadge(t *testing.T) {
	for name, tc := range map[string]struct {
		token string
		ok    bool
	}{
		"generated":          {NewBadgeToken(), true},
		"26 characters":      {strings.Repeat("A", 26), true},
		"128 characters":     {strings.Repeat("b", 128), true},
		"25 characters":      {strings.Repeat("A", 25), false},
		"129 characters":     {strings.Repeat("A", 129), false},
		"a space":            {strings.Repeat("A", 20) + " " + strings.Repeat("A", 10), false},
		"a control":          {strings.Repeat("A", 30) + "\x00", false},
		"non-ASCII":          {strings.Repeat("A", 30) + "é", false},
		"empty":              {"", false},
		"an employee number": {"BADGE-0001", false},
	} {
		t.Run(name, func(t *testing.T) {
			err := CheckBadge(tc.token)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckBadge = %v, want ok %v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), tc.token) && tc.token != "" {
				t.Fatal("the error repeats the token")
			}
		})
	}
}

// NewBadgeToken gives 26 base32 characters (130 bits), a new one each call.
func TestNewBadgeToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok := NewBadgeToken()
		if len(tok) != 26 || strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("token %q: want 26 base32 characters", tok)
		}
		if seen[tok] {
			t.Fatal("a token repeated")
		}
		seen[tok] = true
	}
}

func FuzzCheckBadge(f *testing.F) {
	f.Add("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	f.Add("BADGE-0001")
	f.Fuzz(func(t *testing.T, token string) {
		if CheckBadge(token) != nil {
			return
		}
		if len(token) < MinBadgeLen || len(token) > MaxBadgeLen || strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r > '~' }) {
			t.Fatalf("accepted %q", token)
		}
	})
}

func TestCheckPIN(t *testing.T) {
	for pin, ok := range map[string]bool{
		"1234": true, "0000": true, "123456789012": true, "0042": true,
		"123": false, "1234567890123": false, "": false, "12a4": false, " 1234": false,
		"1234\n": false, "١٢٣٤": false,
	} {
		err := CheckPIN(pin)
		if (err == nil) != ok {
			t.Errorf("CheckPIN(%q) = %v, want ok %v", pin, err, ok)
		}
		if err != nil && pin != "" && strings.Contains(err.Error(), pin) {
			t.Errorf("CheckPIN(%q): the error repeats the PIN", pin)
		}
	}
}

func FuzzCheckPIN(f *testing.F) {
	f.Add("1234")
	f.Add("12a4")
	f.Fuzz(func(t *testing.T, pin string) {
		if CheckPIN(pin) != nil {
			return
		}
		if len(pin) < MinPINLen || len(pin) > MaxPINLen || strings.Trim(pin, "0123456789") != "" {
			t.Fatalf("accepted %q", pin)
		}
	})
}
