package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The YAML library reports problems as strings ("line 11: field retenton not found in
// type config.Policy") and stops at the first one its decoder meets with an unknown key.
// So the file is first parsed into a node tree, which the schema walk below checks
// against Config: every unknown key, every value of the wrong type, each as a
// FieldError with its path and line in the words of the rest of the validation, all of
// them at once. Only a tree that passes is decoded strictly.

// maxVisits bounds the schema walk: aliases may repeat a subtree many times over (a
// "billion laughs" document), and a config has a few hundred nodes.
const maxVisits = 20_000

var durationType = reflect.TypeFor[time.Duration]()

type schemaWalk struct {
	errs []*FieldError
	// meant are the paths that unknown keys were probably meant to be: the rules'
	// "required" there would only repeat the typo.
	meant  []string
	visits int
	// open are the nodes being walked: an alias back to one of them is a loop.
	open map[*yaml.Node]bool
}

func (w *schemaWalk) fail(path string, line int, format string, args ...any) {
	w.errs = append(w.errs, &FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// walk checks node n against type t at path.
func (w *schemaWalk) walk(n *yaml.Node, t reflect.Type, path string) {
	if w.visits++; w.visits > maxVisits {
		if w.visits == maxVisits+1 {
			w.fail(path, n.Line, "the document expands to more than %d values (aliases?): not a config", maxVisits)
		}
		return
	}
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	if w.open[n] {
		w.fail(path, n.Line, "refers to itself through an alias")
		return
	}
	if w.open == nil {
		w.open = map[*yaml.Node]bool{}
	}
	w.open[n] = true
	defer delete(w.open, n)
	if n.ShortTag() == "!!null" {
		return // absent: the zero value, the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.fail(path, n.Line, "want a section of keys (key: value), got %s", describe(n))
			return
		}
		w.mapping(n, t, path)
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		if n.Kind != yaml.SequenceNode {
			w.fail(path, n.Line, "want a list, got %s", describe(n))
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.fail(path, n.Line, "want a section of keys (key: value), got %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.walk(n.Content[i], t.Key(), join(path, n.Content[i].Value))
			w.walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	case t.Kind() == reflect.Interface:
		// Not in the file (yaml:"-" fields are skipped before this).
	default:
		if n.Kind != yaml.ScalarNode {
			w.fail(path, n.Line, "want %s, got %s", want(t), describe(n))
			return
		}
		// The library's own conversion decides: the walk only words its refusal.
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && t.Kind() != reflect.String {
				w.fail(path, n.Line, "want %s, got %q in quotes, which make it text: leave the quotes out", want(t), short(n.Value))
				return
			}
			w.fail(path, n.Line, "want %s, got %s", want(t), short(n.Value))
		}
	}
}

// mapping checks the keys of a mapping node against struct type t.
func (w *schemaWalk) mapping(n *yaml.Node, t reflect.Type, path string) {
	fields := yamlFields(t)
	seen := map[string]int{}
	var meant []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			w.walk(v, t, path) // a merge: its keys are this section's
			continue
		}
		p := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			w.fail(path, k.Line, "a key must be a name, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			w.fail(p, k.Line, "duplicate key (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		ft, ok := fields[k.Value]
		if !ok {
			hint, m := suggest(k.Value, fields)
			w.fail(p, k.Line, "unknown key; %s", hint)
			if m != "" {
				meant = append(meant, m)
			}
			continue
		}
		w.walk(v, ft, p)
	}
	for _, m := range meant {
		if _, there := seen[m]; !there { // else its own problems are its own
			w.meant = append(w.meant, join(path, m))
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the keys of struct type t to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // the library's default
		}
		out[name] = f.Type
	}
	return out
}

// suggest names the known key closest to an unknown one, or lists them all; meant is
// that key, if any.
func suggest(key string, fields map[string]reflect.Type) (hint, meant string) {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names)
	best, bestD := "", len(key)/3+1 // at most a third of the key's letters wrong
	for _, n := range names {
		if d := distance(strings.ToLower(key), n); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return "did you mean " + best + "?", best
	}
	return "the keys here are " + strings.Join(names, ", "), ""
}

// distance is the Damerau-Levenshtein distance (with adjacent swaps) between a and b.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b)) // no key is that long: not worth the quadratic table
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// want says in an installer's words what a value of type t looks like.
func want(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 72h"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<(t.Bits())-1)
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a single value"
	}
	return "a " + t.String()
}

// describe names what a node holds, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section of keys"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(short(n.Value))
	}
	return "nothing usable"
}

// short cuts a value quoted in a message to a length that fits a console line.
func short(s string) string {
	const most = 40
	if r := []rune(s); len(r) > most {
		return string(r[:most-1]) + "…"
	}
	return s
}

// syntaxLine finds "line N: " in the library's syntax errors.
var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError rewrites a syntax error of the YAML library in the words of the rest:
// a tab named as a tab, and an unclosed bracket at the line that opens it (the library
// reports the line before it: its parser counts that mark from 0).
func syntaxError(data []byte, err error) error {
	m := syntaxLine.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("config: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[2]
	lines := strings.Split(string(data), "\n")
	text := func(l int) string {
		if l >= 1 && l <= len(lines) {
			return lines[l-1]
		}
		return ""
	}
	tabbed := func(l int) bool { return strings.Contains(indent(text(l)), "\t") }
	switch {
	case strings.Contains(msg, "tab character"):
		// Reported on the line before the tab when that one is indented less.
		if !tabbed(line) && tabbed(line+1) {
			line++
		}
		return &FieldError{Line: line, Msg: "a tab indents this line: YAML indents with spaces only"}
	case msg == "found character that cannot start any token" && tabbed(line):
		return &FieldError{Line: line, Msg: "a tab indents this line: YAML indents with spaces only"}
	case strings.HasPrefix(msg, "did not find expected ',' or '}'"):
		return unclosed(lines, line, '{', '}')
	case strings.HasPrefix(msg, "did not find expected ',' or ']'"):
		return unclosed(lines, line, '[', ']')
	case msg == "found unexpected end of stream" && strings.ContainsAny(text(line), `"'`):
		return &FieldError{Line: line, Msg: "a quote opened on this line is not closed: the text runs to the end of the file"}
	}
	return &FieldError{Line: line, Msg: msg}
}

func indent(s string) string { return s[:len(s)-len(strings.TrimLeft(s, " \t"))] }

// unclosed reports the flow collection that the parser could not finish: the line
// after the one the library reports, or the nearest one above it that opens one.
func unclosed(lines []string, reported int, open, close byte) error {
	at := reported + 1
	for l := min(at, len(lines)); l >= 1; l-- {
		if strings.IndexByte(lines[l-1], open) >= 0 {
			at = l
			break
		}
	}
	return &FieldError{Line: at, Msg: fmt.Sprintf("the %q opened on this line is not closed: a missing %q, or a missing ',' between two items", open, close)}
}
