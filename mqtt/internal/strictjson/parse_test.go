package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// oracleTree parses with encoding/json's tokenizer, adding the rules
// parse adds (UTF-8, no duplicate members, depth). It is slow, which is
// why parse exists, but it is an independent opinion to fuzz against.
func oracleTree(data []byte) (*node, bool) {
	if !utf8.Valid(data) || !json.Valid(data) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var value func(depth int) (*node, bool)
	value = func(depth int) (*node, bool) {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		switch v := tok.(type) {
		case json.Delim:
			if depth >= maxDepth {
				return nil, false
			}
			n := &node{kind: 'a'}
			if v == '{' {
				n.kind = 'o'
			}
			for dec.More() {
				if n.kind == 'o' {
					k, _ := dec.Token()
					key := k.(string)
					for _, seen := range n.keys {
						if seen == key {
							return nil, false
						}
					}
					n.keys = append(n.keys, key)
				}
				child, ok := value(depth + 1)
				if !ok {
					return nil, false
				}
				n.vals = append(n.vals, child)
			}
			_, _ = dec.Token()
			return n, true
		case string:
			return &node{kind: 's', str: v}, true
		case json.Number:
			return &node{kind: 'n', str: string(v)}, true
		case bool:
			return &node{kind: 'b', truth: v}, true
		}
		return &node{kind: 'z'}, true
	}
	n, ok := value(0)
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return n, ok
}

// sameTree compares two trees, ignoring byte offsets.
func sameTree(a, b *node) bool {
	if a.kind != b.kind || a.str != b.str || a.truth != b.truth || !reflect.DeepEqual(a.keys, b.keys) || len(a.vals) != len(b.vals) {
		return false
	}
	for i := range a.vals {
		if !sameTree(a.vals[i], b.vals[i]) {
			return false
		}
	}
	return true
}

func FuzzParseTreeAgainstEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,-0.5e+3,true,false,null,"x\u00e9\ud83d\ude00\n"]}`, `"\ud800"`, `{"a":1,"a":2}`,
		`[` + strings.Repeat(`[`, 20) + strings.Repeat(`]`, 21), ` 0 `, `01`, `1.`, `-`, `{"a" : { } }`, "\"\x01\"",
		`"\/\b\f\r\t\"\\"`, `[1,]`, `{"a":1,}`, `1e5`, `tru`, `nul`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ours, err := parse(data)
		theirs, ok := oracleTree(data)
		switch {
		case err == nil && !ok:
			t.Fatalf("parse accepts what encoding/json refuses: %q", data)
		case err != nil && ok:
			var se *Error
			if errors.As(err, &se) && strings.Contains(se.Detail, "surrogate") {
				return // encoding/json replaces lone surrogates; we refuse them
			}
			t.Fatalf("parse refuses valid JSON %q: %v", data, err)
		case err == nil && !sameTree(ours, theirs):
			t.Fatalf("trees differ for %q", data)
		case err == nil && !json.Valid(data[ours.start:ours.end]):
			t.Fatalf("root offsets %d..%d do not delimit the value in %q", ours.start, ours.end, data)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v is not a schema error", err)
		}
	})
}

func TestParseTreeCases(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		problem Problem
		path    string
	}{
		{name: "nested duplicate", in: `{"a":{"b":1,"b":2}}`, problem: Duplicate, path: "a.b"},
		{name: "duplicate in array element", in: `{"a":[{},{"x":1,"x":1}]}`, problem: Duplicate, path: "a[1].x"},
		{name: "deep", in: strings.Repeat(`[`, 17) + strings.Repeat(`]`, 17), problem: TooDeep, path: strings.Repeat("[0]", 16)},
		{name: "lone surrogate", in: `{"k":"\udc00"}`, problem: Malformed, path: "k"},
		{name: "control character", in: "{\"k\":\"a\tb\"}", problem: Malformed, path: "k"},
		{name: "leading zero", in: `[01]`, problem: Malformed},
		{name: "odd key is quoted", in: `{"a b":{"c":x}}`, problem: Malformed, path: `"a b".c`},
		{name: "trailing comma", in: `[1,]`, problem: Malformed, path: "[1]"},
		{name: "trailing data", in: `{} {}`, problem: Malformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse([]byte(tc.in))
			var se *Error
			if !errors.As(err, &se) || se.Problem != tc.problem || se.Path != tc.path {
				t.Fatalf("got %v (path %q), want %s at %q", err, pathOf(err), tc.problem, tc.path)
			}
		})
	}
}

func pathOf(err error) string {
	var se *Error
	if errors.As(err, &se) {
		return se.Path
	}
	return ""
}

type wire struct {
	Name  string            `json:"name"`
	Count uint16            `json:"count"`
	Tags  []string          `json:"tags,omitempty"`
	Sub   *wire             `json:"sub,omitempty"`
	Map   map[string]int    `json:"map,omitempty"`
	Raw   json.RawMessage   `json:"raw,omitempty"`
	Text  textValue         `json:"text,omitempty"`
	Extra map[string]string `json:"-"`
}

type textValue string

func (t *textValue) UnmarshalText(b []byte) error {
	if string(b) == "bad" {
		return errors.New("value bad is bad") // quotes the value: must not surface
	}
	*t = textValue(b)
	return nil
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		lenient bool
		problem Problem
		path    string
		check   func(t *testing.T, w *wire)
	}{
		{name: "full", in: `{"name":"a","count":7,"tags":["x"],"sub":{"name":"b","count":1},"map":{"k":2},"raw":{"z":[1]},"text":"ok"}`,
			check: func(t *testing.T, w *wire) {
				if w.Sub == nil || w.Sub.Name != "b" || w.Map["k"] != 2 || string(w.Raw) != `{"z":[1]}` || w.Text != "ok" {
					t.Fatalf("%+v", w)
				}
			}},
		{name: "null optional", in: `{"name":"a","count":1,"tags":null,"sub":null}`},
		{name: "missing", in: `{"name":"a"}`, problem: MissingField, path: "count"},
		{name: "unknown", in: `{"name":"a","count":1,"x":1}`, problem: UnknownField, path: "x"},
		{name: "unknown but lenient", in: `{"name":"a","count":1,"x":{"y":[1,2]}}`, lenient: true},
		{name: "wrong type deep", in: `{"name":"a","count":1,"sub":{"name":1,"count":1}}`, problem: WrongType, path: "sub.name"},
		{name: "overflow", in: `{"name":"a","count":65536}`, problem: WrongType, path: "count"},
		{name: "fraction", in: `{"name":"a","count":1.0}`, problem: WrongType, path: "count"},
		{name: "null required", in: `{"name":null,"count":1}`, problem: WrongType, path: "name"},
		{name: "map value", in: `{"name":"a","count":1,"map":{"k":"v"}}`, problem: WrongType, path: "map.k"},
		{name: "array element", in: `{"name":"a","count":1,"tags":["x",2]}`, problem: WrongType, path: "tags[1]"},
		{name: "text refused without its value", in: `{"name":"a","count":1,"text":"bad"}`, problem: BadValue, path: "text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w wire
			err := Decode([]byte(tc.in), &w, tc.lenient)
			if tc.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.check != nil {
					tc.check(t, &w)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Problem != tc.problem || e.Path != tc.path || strings.Contains(e.Error(), "bad is bad") {
				t.Fatalf("got %v, want %s at %q", err, tc.problem, tc.path)
			}
		})
	}
}
