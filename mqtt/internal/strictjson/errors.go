// Package strictjson parses and decodes JSON for the wire contract, more
// strictly than encoding/json: one value, valid UTF-8, no lone surrogate
// escapes, no duplicate members, bounded depth, exact JSON types (no
// number-as-string, integers only where integers are expected), and,
// unless lenient, no unknown members. Errors name the failing location as
// a path ("body.parcels[3].waybill") built only when there is an error, and
// never contain values. It parses in one pass and stores while it checks.
package strictjson

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// ErrInvalid is matched by every *Error.
var ErrInvalid = errors.New("strictjson: invalid")

// Problem classifies an error; the values are stable wire strings.
type Problem string

// Problems found by this package.
const (
	Malformed    Problem = "malformed"
	TooDeep      Problem = "too_deep"
	Duplicate    Problem = "duplicate_field"
	UnknownField Problem = "unknown_field"
	WrongType    Problem = "wrong_type"
	MissingField Problem = "missing_field"
	BadValue     Problem = "bad_value"
)

// Error says where and why a document was refused.
type Error struct {
	Path    string
	Problem Problem
	Detail  string // value-free
}

// Error implements error.
func (e *Error) Error() string {
	msg := "strictjson: " + string(e.Problem)
	if e.Path != "" {
		msg += " at " + e.Path
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is makes every Error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// WireError may be returned by a field type's UnmarshalText to choose the
// Problem and a value-free Detail; other UnmarshalText errors become
// BadValue with a generic detail, because their text may quote the value.
type WireError interface {
	error
	WireProblem() string
	WireDetail() string
}

func fail(p Problem, format string, args ...any) error {
	return &Error{Problem: p, Detail: fmt.Sprintf(format, args...)}
}

// underKey prefixes a member name to the path of err, if it is an *Error.
func underKey(err error, key string) error {
	if e, ok := err.(*Error); ok {
		e.Path = JoinPath(PathKey(key), e.Path)
	}
	return err
}

// underIndex prefixes an array index to the path of err.
func underIndex(err error, i int) error {
	if e, ok := err.(*Error); ok {
		e.Path = JoinPath("["+strconv.Itoa(i)+"]", e.Path)
	}
	return err
}

// JoinPath joins two path fragments: "a"+"b" is "a.b", "a"+"[2]" is "a[2]".
func JoinPath(head, tail string) string {
	switch {
	case tail == "":
		return head
	case head == "":
		return tail
	case tail[0] == '[':
		return head + tail
	}
	return head + "." + tail
}

// PathKey shows a member name as is if it is a plain identifier, quoted and
// cut short otherwise, so a path never carries bulk data.
func PathKey(key string) string {
	plain := key != "" && len(key) <= 32
	for i := 0; plain && i < len(key); i++ {
		c := key[i]
		plain = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	if plain {
		return key
	}
	return strconv.Quote(Truncate(key, 32))
}

// Truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
