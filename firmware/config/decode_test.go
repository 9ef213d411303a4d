package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestSyntaxErrors: the YAML library's syntax errors, in the words of the rest, at the
// line to fix.
func TestSyntaxErrors(t *testing.T) {
	for _, tt := range []struct{ name, doc, want string }{
		{"tab before a key", "locker_id: X\nlog:\n\tlevel: info\n", "config: line 3: a tab indents this line: YAML indents with spaces only"},
		{"tab after spaces", "log:\n  level: info\n\tformat: text\n", "config: line 3: a tab indents this line: YAML indents with spaces only"},
		{"unclosed brace", "a: 1\nb: {c: 2, d: 3\ne: 4\n", "config: line 2: the '{' opened on this line is not closed: a missing '}', or a missing ',' between two items"},
		{"unclosed bracket", "a: 1\nb: 2\nc: [1, 2\nd: 4\n", "config: line 3: the '[' opened on this line is not closed: a missing ']', or a missing ',' between two items"},
		{"unclosed on the first line", "b: {c: 2\nd: 4\n", "config: line 1: the '{' opened on this line is not closed: a missing '}', or a missing ',' between two items"},
		{"unclosed quote", "a: 1\nb: \"abc\nc: 2\n", "config: line 2: a quote opened on this line is not closed: the text runs to the end of the file"},
		{"a list, not a section", "- 1\n- 2\n", "config: line 1: want a section of keys (locker_id: ..., state_dir: ...), got a list"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	fields := yamlFields(reflect.TypeFor[Policy]())
	for key, want := range map[string]string{
		"retenton":     "did you mean retention?",
		"Retention":    "did you mean retention?",
		"epoch_lenght": "did you mean epoch_length?",
		"colour": "the keys here are announced_keep, audit_keep, code_entry, code_throttle, courier_throttle, " +
			"door_open_timeout, duplicate_scan_window, epoch_length, handover_timeout, left_open_after, purge_after, " +
			"retention, session_idle",
	} {
		if got, _ := suggest(key, fields); got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
}

// FuzzParseErrors: whatever the document, Parse returns a config or problems in the
// package's form ("config: ..."), every line it names inside the document, and never
// panics. The seeds are broken configs of the kinds the table tests hold.
func FuzzParseErrors(f *testing.F) {
	base := example(f)
	for _, s := range []string{
		"locker_id: X\nlog:\n\tlevel: info\n",
		"a: 1\nb: {c: 2, d: 3\ne: 4\n",
		"b: [1\n",
		strings.Replace(base, "retention: 72h", "retenton: 72", 1),
		strings.Replace(base, "retention: 72h", "retention: 72\n  retention: 1h", 1),
		strings.Replace(base, "locker_id: LK-0001\n", "", 1),
		strings.Replace(base, "addr: 0", "addr: [0]", 1),
		strings.Replace(base, "policy:", "policy: &p\n  <<: {retention: 1h}", 1),
		"a: &a [*a, *a]\nb: *a\n",
		"compartments: {id: 1}\n",
		"hardware:\n  lockboards:\n    - {name: b, port: ttyS0, baud: 12345, reply_timeout: 1ms}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse(data)
		if err == nil {
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, e := range unjoin(err) {
			if !strings.HasPrefix(e.Error(), "config: ") {
				t.Fatalf("problem not in the package's form: %q", e)
			}
			var fe *FieldError
			if errors.As(e, &fe) && (fe.Line < 0 || fe.Line > lines) {
				t.Fatalf("line %d of a %d-line document: %v", fe.Line, lines, e)
			}
		}
	})
}

func TestLongValueCut(t *testing.T) {
	_, err := Parse([]byte(edited(example(t)) + "memory_limit_mib: " + strings.Repeat("x", 100) + "\n"))
	want := "config: memory_limit_mib (line 36): want a whole number, got " + strings.Repeat("x", 39) + "…"
	if err == nil || err.Error() != want {
		t.Fatalf("%v\nwant %s", err, want)
	}
}

// TestWalkMap: no section of Config is a map today; the walk checks one's keys and
// values as it does a list's items, should one come.
func TestWalkMap(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte("limits:\n  a: 1\n  b: two\n"), &root); err != nil {
		t.Fatal(err)
	}
	w := &schemaWalk{}
	w.walk(root.Content[0], reflect.TypeFor[struct {
		Limits map[string]int `yaml:"limits"`
	}](), "")
	if len(w.errs) != 1 || w.errs[0].Error() != "config: limits.b (line 3): want a whole number, got two" {
		t.Fatalf("%v", w.errs)
	}
}
