package update

import (
	"errors"
	"fmt"
	"strings"
)

// ErrVersion is wrapped by every error about a malformed Debian version.
var ErrVersion = errors.New("update: bad version")

// Version is a parsed Debian package version, [epoch:]upstream[-revision], compared
// as dpkg compares it (deb-version(7)), so that the locker's idea of "newer" is the
// one dpkg and apt act on.
type Version struct {
	Epoch    uint32
	Upstream string
	Revision string
}

// maxVersionLen bounds a version string; Debian sets no limit, a locker does.
const maxVersionLen = 128

// ParseVersion parses a Debian version. It is stricter than dpkg, which only warns:
// the upstream part must start with a digit and use the characters deb-version(7)
// allows.
func ParseVersion(s string) (Version, error) {
	if s == "" || len(s) > maxVersionLen {
		return Version{}, fmt.Errorf("%w: want 1 to %d characters", ErrVersion, maxVersionLen)
	}
	var v Version
	rest := s
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		if i == 0 || i > 9 {
			return Version{}, fmt.Errorf("%w: epoch must be 1 to 9 digits", ErrVersion)
		}
		for _, c := range []byte(rest[:i]) {
			if c < '0' || c > '9' {
				return Version{}, fmt.Errorf("%w: epoch must be digits", ErrVersion)
			}
			v.Epoch = v.Epoch*10 + uint32(c-'0')
		}
		rest = rest[i+1:]
	}
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		v.Revision = rest[i+1:]
		rest = rest[:i]
		if v.Revision == "" {
			return Version{}, fmt.Errorf("%w: empty revision after '-'", ErrVersion)
		}
		for _, c := range []byte(v.Revision) {
			if !alnum(c) && !strings.ContainsRune(".+~", rune(c)) {
				return Version{}, fmt.Errorf("%w: revision may hold letters, digits and . + ~", ErrVersion)
			}
		}
	}
	v.Upstream = rest
	if rest == "" || !digit(rest[0]) {
		return Version{}, fmt.Errorf("%w: upstream version must start with a digit", ErrVersion)
	}
	for _, c := range []byte(rest) {
		if !alnum(c) && !strings.ContainsRune(".+~-:", rune(c)) {
			return Version{}, fmt.Errorf("%w: upstream version may hold letters, digits, . + ~ - and colons", ErrVersion)
		}
		if c == ':' && !strings.Contains(s, ":") {
			return Version{}, fmt.Errorf("%w: ':' in upstream version without an epoch", ErrVersion)
		}
	}
	return v, nil
}

// String formats v as dpkg would.
func (v Version) String() string {
	s := v.Upstream
	if v.Epoch != 0 || strings.Contains(v.Upstream, ":") {
		s = fmt.Sprintf("%d:%s", v.Epoch, s)
	}
	if v.Revision != "" {
		s += "-" + v.Revision
	}
	return s
}

// Compare returns -1, 0 or +1 as v sorts before, with or after w in dpkg's order.
func (v Version) Compare(w Version) int {
	switch {
	case v.Epoch < w.Epoch:
		return -1
	case v.Epoch > w.Epoch:
		return 1
	}
	if c := compareFragment(v.Upstream, w.Upstream); c != 0 {
		return c
	}
	return compareFragment(v.Revision, w.Revision)
}

// CompareVersions parses and compares two versions.
func CompareVersions(a, b string) (int, error) {
	va, err := ParseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := ParseVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

func digit(c byte) bool { return c >= '0' && c <= '9' }

func alpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func alnum(c byte) bool { return digit(c) || alpha(c) }

// order is the weight of a non-digit character: '~' before the end of the string,
// the end before letters, letters before everything else.
func order(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case digit(c):
		return 0
	case alpha(c):
		return int(c)
	case c == '~':
		return -1
	}
	return int(c) + 256
}

// compareFragment compares upstream versions or revisions: alternating runs of
// non-digits (by order) and digits (as numbers, of any length).
func compareFragment(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !digit(a[i])) || (j < len(b) && !digit(b[j])) {
			ac, bc := order(a, i), order(b, j)
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		first := 0
		for i < len(a) && digit(a[i]) && j < len(b) && digit(b[j]) {
			if first == 0 {
				first = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && digit(a[i]) {
			return 1
		}
		if j < len(b) && digit(b[j]) {
			return -1
		}
		if first != 0 {
			return sign(first)
		}
	}
	return 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
