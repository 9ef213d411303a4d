package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// ErrSchema is wrapped by every error about a payload's content, including
// *SchemaError; compare with errors.Is.
var ErrSchema = errors.New("protocol: schema violation")

// Problem classifies a schema violation. Values are stable: the link puts
// them into the Detail of refusal replies.
type Problem string

// Schema problems.
const (
	ProblemMalformed     Problem = "malformed"       // not JSON, not UTF-8, trailing data
	ProblemTooDeep       Problem = "too_deep"        // nesting beyond maxDepth
	ProblemDuplicate     Problem = "duplicate_field" // a member appears twice in one object
	ProblemUnknownField  Problem = "unknown_field"
	ProblemWrongType     Problem = "wrong_type"
	ProblemMissingField  Problem = "missing_field"
	ProblemBadDigest     Problem = "bad_digest" // not 64 lower-case hex digits
	ProblemBadValue      Problem = "bad_value"  // right type, value out of range or not in the enum
	ProblemTooMany       Problem = "too_many"   // too many items in an array
	ProblemTooLong       Problem = "too_long"   // string longer than allowed
	ProblemUnknownType   Problem = "unknown_type"
	ProblemBadIdentifier Problem = "bad_id" // an id outside the id alphabet or length
)

// SchemaError says where and why a payload breaks the schema. Path is a
// JSONPath-like location ("body.parcels[3].waybill"); it names fields and
// indices only, never values, so the error is safe to log and to send back.
type SchemaError struct {
	Path    string
	Problem Problem
	Detail  string // short, value-free explanation
}

// Error implements error.
func (e *SchemaError) Error() string {
	msg := "protocol: " + string(e.Problem)
	if e.Path != "" {
		msg += " at " + e.Path
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is makes every SchemaError match ErrSchema.
func (e *SchemaError) Is(target error) bool { return target == ErrSchema }

func schemaErr(path string, p Problem, format string, args ...any) error {
	return &SchemaError{Path: path, Problem: p, Detail: fmt.Sprintf(format, args...)}
}

// maxDepth bounds nesting; the deepest legitimate payload has four levels.
const maxDepth = 16

// node is a JSON value with object members kept in order, so that the
// checker can report duplicates and unknown members by name.
type node struct {
	kind  byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	keys  []string
	vals  []*node // object member values, parallel to keys; array elements
	str   string  // string value or number literal
	truth bool
}

func (n *node) kindName() string {
	switch n.kind {
	case 'o':
		return "object"
	case 'a':
		return "array"
	case 's':
		return "string"
	case 'n':
		return "number"
	case 'b':
		return "boolean"
	}
	return "null"
}

// parseTree parses exactly one JSON value, refusing invalid UTF-8 (which
// encoding/json would silently replace), duplicate members, excessive depth
// and trailing data.
func parseTree(data []byte, path string) (*node, error) {
	if !utf8.Valid(data) {
		return nil, schemaErr(path, ProblemMalformed, "not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseValue(dec, path, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, schemaErr(path, ProblemMalformed, "data after the JSON value")
	}
	return n, nil
}

func parseValue(dec *json.Decoder, path string, depth int) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, schemaErr(path, ProblemMalformed, "invalid JSON")
	}
	return parseFrom(dec, tok, path, depth)
}

func parseFrom(dec *json.Decoder, tok json.Token, path string, depth int) (*node, error) {
	switch v := tok.(type) {
	case json.Delim:
		if depth >= maxDepth {
			return nil, schemaErr(path, ProblemTooDeep, "nested deeper than %d", maxDepth)
		}
		if v == '{' {
			return parseObject(dec, path, depth)
		}
		if v == '[' {
			return parseArray(dec, path, depth)
		}
		return nil, schemaErr(path, ProblemMalformed, "invalid JSON")
	case string:
		return &node{kind: 's', str: v}, nil
	case json.Number:
		return &node{kind: 'n', str: string(v)}, nil
	case bool:
		return &node{kind: 'b', truth: v}, nil
	case nil:
		return &node{kind: 'z'}, nil
	}
	return nil, schemaErr(path, ProblemMalformed, "invalid JSON")
}

func parseObject(dec *json.Decoder, path string, depth int) (*node, error) {
	n := &node{kind: 'o'}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, schemaErr(path, ProblemMalformed, "invalid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return nil, schemaErr(path, ProblemMalformed, "invalid JSON")
		}
		for _, k := range n.keys {
			if k == key {
				return nil, schemaErr(join(path, key), ProblemDuplicate, "member appears twice")
			}
		}
		val, err := parseValue(dec, join(path, key), depth+1)
		if err != nil {
			return nil, err
		}
		n.keys, n.vals = append(n.keys, key), append(n.vals, val)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, schemaErr(path, ProblemMalformed, "invalid JSON")
	}
	return n, nil
}

func parseArray(dec *json.Decoder, path string, depth int) (*node, error) {
	n := &node{kind: 'a'}
	for dec.More() {
		val, err := parseValue(dec, index(path, len(n.vals)), depth+1)
		if err != nil {
			return nil, err
		}
		n.vals = append(n.vals, val)
	}
	if _, err := dec.Token(); err != nil {
		return nil, schemaErr(path, ProblemMalformed, "invalid JSON")
	}
	return n, nil
}

// join appends a member name to a path. Names that are not plain
// identifiers are quoted and cut short, so a path never carries bulk data.
func join(path, key string) string {
	plain := key != "" && len(key) <= 32
	for i := 0; plain && i < len(key); i++ {
		plain = isAlnum(key[i]) || key[i] == '_' || key[i] == '-'
	}
	if !plain {
		key = strconv.Quote(truncate(key, 32))
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
