package update

import (
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/internal/testenv"
)

var versionOrder = []struct{ a, b string }{
	{"1.0", "1.1"},
	{"1.0~rc1", "1.0"},
	{"1.0~~", "1.0~"},
	{"1.0", "1.0a"},
	{"1.0a", "1.0+"},
	{"1.0", "1.0-1"},
	{"1.0-1", "1.0-2"},
	{"1.0-9", "1.0-10"},
	{"1.9", "1.10"},
	{"1.0.0", "1.0.1"},
	{"2.0", "1:0.1"},
	{"1:1.0", "2:0.0"},
	{"0.9.9", "1.0"},
	{"1.0+b1", "1.0.1"},
	{"1.2-1~bpo1", "1.2-1"},
	{"1.00001", "1.2"},
}

func TestCompareVersionsOrder(t *testing.T) {
	for _, tc := range versionOrder {
		t.Run(tc.a+"<"+tc.b, func(t *testing.T) {
			if c, err := CompareVersions(tc.a, tc.b); err != nil || c != -1 {
				t.Errorf("Compare(%q, %q) = %d, %v; want -1", tc.a, tc.b, c, err)
			}
			if c, err := CompareVersions(tc.b, tc.a); err != nil || c != 1 {
				t.Errorf("Compare(%q, %q) = %d, %v; want 1", tc.b, tc.a, c, err)
			}
		})
	}
	for _, eq := range [][2]string{{"1.0", "1.00"}, {"0:1.0", "1.0"}, {"1.0-0", "1.0-00"}, {"01.1", "1.1"}} {
		if c, err := CompareVersions(eq[0], eq[1]); err != nil || c != 0 {
			t.Errorf("Compare(%q, %q) = %d, %v; want 0", eq[0], eq[1], c, err)
		}
	}
}

func TestParseVersionRefuses(t *testing.T) {
	for _, s := range []string{"", "a1.0", ":1.0", "x:1.0", "1.0-", "1.0 ", "1.0_1", "1:1.0-a_b", "1.0:1",
		"-1", strings.Repeat("1", maxVersionLen+1), "1234567890:1"} {
		if v, err := ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) = %+v, want an error", s, v)
		}
	}
}

// TestCompareVersionsAgreesWithDpkg holds the Go comparison to dpkg's own, on random
// versions built from the characters that matter (digits, letters, ~ + . -).
func TestCompareVersionsAgreesWithDpkg(t *testing.T) {
	dpkg := testenv.LookPath(t, "dpkg")
	r := rand.New(rand.NewPCG(15, 4))
	const alphabet = "0123456789~+.ab"
	gen := func() string {
		var b strings.Builder
		if r.IntN(6) == 0 {
			b.WriteString("1:")
		}
		b.WriteByte(byte('0' + r.IntN(3)))
		for range r.IntN(6) {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		if r.IntN(2) == 0 {
			b.WriteString("-")
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	n := 300
	if testing.Short() {
		n = 50
	}
	for range n {
		a, b := gen(), gen()
		c, err := CompareVersions(a, b)
		if err != nil {
			continue // outside what the locker accepts; dpkg only warns
		}
		want := 0
		for _, op := range []struct {
			op string
			c  int
		}{{"lt", -1}, {"gt", 1}} {
			if exec.Command(dpkg, "--compare-versions", a, op.op, b).Run() == nil {
				want = op.c
			}
		}
		if c != want {
			t.Errorf("Compare(%q, %q) = %d, dpkg says %d", a, b, c, want)
		}
	}
}
