package enum_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/internal/enum"
)

var errUnknown = errors.New("unknown")

type color string

const (
	red   color = "red"
	green color = "green"
)

var colors = enum.Strings(func(s string) error { return fmt.Errorf("%w color %q", errUnknown, s) }, red, green)

// level is a numeric enumeration with a String method that calls its Set, as
// locker.Size does: Other must not recurse into it.
type level uint8

const (
	low  level = 1
	high level = 2
)

var levels = enum.New(enum.Spec[level]{
	Defs:        []enum.Def[level]{{Value: low, Name: "low"}, {Value: high, Name: "high"}},
	Aliases:     map[string]level{"LOW": low},
	Unknown:     func(s string) error { return fmt.Errorf("%w level %q", errUnknown, s) },
	Other:       "level(%d)",
	Unencodable: func(l level) error { return fmt.Errorf("cannot encode %v", l) },
})

func (l level) String() string                { return levels.String(l) }
func (l level) MarshalText() ([]byte, error)  { return levels.MarshalText(l) }
func (l *level) UnmarshalText(b []byte) error { return levels.UnmarshalText(l, b) }

func TestStrings(t *testing.T) {
	if !colors.Valid(red) || colors.Valid("blue") {
		t.Fatal("Valid")
	}
	if v, err := colors.Parse("green"); v != green || err != nil {
		t.Fatalf("Parse(green) = %q, %v", v, err)
	}
	if v, err := colors.Parse("blue"); v != "" || !errors.Is(err, errUnknown) || err.Error() != `unknown color "blue"` {
		t.Fatalf("Parse(blue) = %q, %v", v, err)
	}
	if got := colors.String("blue"); got != "blue" {
		t.Fatalf("String of an outsider = %q", got)
	}
	if got := colors.Values(); !slices.Equal(got, []color{red, green}) {
		t.Fatalf("Values = %v", got)
	}
	colors.Values()[0] = "x" // a copy
	if colors.Values()[0] != red {
		t.Fatal("Values shares its slice")
	}
}

func TestNumbers(t *testing.T) {
	if low.String() != "low" || level(7).String() != "level(7)" {
		t.Fatalf("String: %v %v", low, level(7))
	}
	for name, want := range map[string]level{"low": low, "LOW": low, "high": high} {
		if v, err := levels.Parse(name); v != want || err != nil {
			t.Fatalf("Parse(%q) = %v, %v", name, v, err)
		}
	}
	if got := levels.Names(); !slices.Equal(got, []string{"low", "high"}) {
		t.Fatalf("Names = %v (aliases are not names)", got)
	}
	b, err := json.Marshal(map[string]level{"a": high})
	if err != nil || string(b) != `{"a":"high"}` {
		t.Fatalf("marshal: %s %v", b, err)
	}
	if _, err := json.Marshal(level(9)); err == nil || !strings.Contains(err.Error(), "cannot encode level(9)") {
		t.Fatalf("marshal of an outsider: %v", err)
	}
	v := high
	if err := v.UnmarshalText([]byte("medium")); !errors.Is(err, errUnknown) || v != 0 {
		t.Fatalf("UnmarshalText(medium) = %v, %v; want the zero value and the error", v, err)
	}
	if err := v.UnmarshalText([]byte("high")); err != nil || v != high {
		t.Fatalf("UnmarshalText(high) = %v, %v", v, err)
	}
}

func TestDefaultUnencodable(t *testing.T) {
	s := enum.New(enum.Spec[int]{Defs: []enum.Def[int]{{1, "one"}}, Unknown: func(string) error { return errUnknown }, Other: "int(%d)"})
	if _, err := s.MarshalText(2); err == nil || err.Error() != "cannot encode int(2)" {
		t.Fatalf("MarshalText(2): %v", err)
	}
}

func TestNewPanics(t *testing.T) {
	unknown := func(string) error { return errUnknown }
	for name, spec := range map[string]enum.Spec[int]{
		"duplicate value":  {Defs: []enum.Def[int]{{1, "a"}, {1, "b"}}, Unknown: unknown, Other: "%d"},
		"duplicate name":   {Defs: []enum.Def[int]{{1, "a"}, {2, "a"}}, Unknown: unknown, Other: "%d"},
		"alias clash":      {Defs: []enum.Def[int]{{1, "a"}, {2, "b"}}, Aliases: map[string]int{"b": 1}, Unknown: unknown, Other: "%d"},
		"alias of nothing": {Defs: []enum.Def[int]{{1, "a"}}, Aliases: map[string]int{"z": 3}, Unknown: unknown, Other: "%d"},
		"no Unknown":       {Defs: []enum.Def[int]{{1, "a"}}, Other: "%d"},
		"no Other":         {Defs: []enum.Def[int]{{1, "a"}}, Unknown: unknown},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("New did not panic")
				}
			}()
			enum.New(spec)
		})
	}
}
