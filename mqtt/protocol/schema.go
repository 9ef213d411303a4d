package protocol

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/lockerd/lockerd/mqtt/internal/strictjson"
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
	ProblemTooDeep       Problem = "too_deep"        // nesting beyond 16 levels
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

// decodeStrict decodes data into v (a pointer to a wire struct), refusing
// unknown members; path says where data sits in the payload ("" or "body").
// See mqtt/internal/strictjson for the rules.
func decodeStrict(data []byte, v any, path string) error {
	return fromStrict(strictjson.Decode(data, v, false), path)
}

// decodeLenient is decodeStrict except that unknown members are ignored. The
// cloud decodes what devices send with it, so that a device with a newer
// firmware that adds a member does not break an older cloud.
func decodeLenient(data []byte, v any, path string) error {
	return fromStrict(strictjson.Decode(data, v, true), path)
}

// fromStrict turns a strictjson error into a SchemaError under path.
func fromStrict(err error, path string) error {
	var e *strictjson.Error
	if !errors.As(err, &e) {
		return err
	}
	return &SchemaError{Path: strictjson.JoinPath(path, e.Path), Problem: Problem(e.Problem), Detail: e.Detail}
}

// join and index build paths for the Validate methods' errors.
func join(path, key string) string { return strictjson.JoinPath(path, strictjson.PathKey(key)) }

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func truncate(s string, n int) string { return strictjson.Truncate(s, n) }
