package protocol

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// decodeStrict decodes data into v (a pointer to a wire struct) after
// checking it against v's type: every member known, every required member
// present, every value of the right JSON type. A member is required unless
// its json tag says omitempty or omitzero. The semantic checks (enums,
// ranges, ids) are the types' own check methods, run by the callers.
func decodeStrict(data []byte, v any, path string) error {
	return checker{}.decode(data, v, path)
}

// decodeLenient is decodeStrict except that unknown members are ignored. The
// cloud decodes what devices send with it, so that a device with a newer
// firmware that adds a member does not break an older cloud.
func decodeLenient(data []byte, v any, path string) error {
	return checker{lenient: true}.decode(data, v, path)
}

// checker holds the one policy that differs between the two directions.
type checker struct {
	lenient bool // ignore unknown object members
}

func (c checker) decode(data []byte, v any, path string) error {
	n, err := parseTree(data, path)
	if err != nil {
		return err
	}
	if err := c.checkNode(n, reflect.TypeOf(v).Elem(), path); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		// checkNode accepts only what Unmarshal can store; reaching here
		// means the two disagree, which is a bug, but still a refusal.
		return schemaErr(path, ProblemMalformed, "undecodable")
	}
	return nil
}

var (
	digestType = reflect.TypeFor[Digest]()
	timeType   = reflect.TypeFor[time.Time]()
	rawType    = reflect.TypeFor[json.RawMessage]()
)

func (c checker) checkNode(n *node, t reflect.Type, path string) error {
	switch t {
	case rawType:
		return nil
	case digestType:
		if n.kind != 's' {
			return wrongType(path, "string", n)
		}
		if _, err := ParseDigest(n.str); err != nil {
			return schemaErr(path, ProblemBadDigest, "want 64 lower-case hex digits, got %d characters", len(n.str))
		}
		return nil
	case timeType:
		if n.kind != 's' {
			return wrongType(path, "string", n)
		}
		if _, err := time.Parse(time.RFC3339Nano, n.str); err != nil {
			return schemaErr(path, ProblemBadValue, "not an RFC 3339 time")
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if n.kind == 'z' {
			return nil
		}
		return c.checkNode(n, t.Elem(), path)
	case reflect.String:
		if n.kind != 's' {
			return wrongType(path, "string", n)
		}
	case reflect.Bool:
		if n.kind != 'b' {
			return wrongType(path, "boolean", n)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.kind != 'n' {
			return wrongType(path, "integer", n)
		}
		if _, err := strconv.ParseInt(n.str, 10, t.Bits()); err != nil {
			return schemaErr(path, ProblemWrongType, "want an integer within %d bits", t.Bits())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.kind != 'n' {
			return wrongType(path, "integer", n)
		}
		if _, err := strconv.ParseUint(n.str, 10, t.Bits()); err != nil {
			return schemaErr(path, ProblemWrongType, "want a non-negative integer within %d bits", t.Bits())
		}
	case reflect.Slice:
		if n.kind != 'a' {
			return wrongType(path, "array", n)
		}
		for i, el := range n.vals {
			if err := c.checkNode(el, t.Elem(), index(path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.kind != 'o' {
			return wrongType(path, "object", n)
		}
		for i, k := range n.keys {
			if err := c.checkNode(n.vals[i], t.Elem(), join(path, k)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		return c.checkStruct(n, t, path)
	default:
		return schemaErr(path, ProblemMalformed, "unsupported wire type %s", t)
	}
	return nil
}

func (c checker) checkStruct(n *node, t reflect.Type, path string) error {
	if n.kind != 'o' {
		return wrongType(path, "object", n)
	}
	fields := fieldsOf(t)
	present := make(map[string]bool, len(n.keys))
	for i, k := range n.keys {
		f, ok := fields.byName[k]
		if !ok {
			if c.lenient {
				continue
			}
			return schemaErr(join(path, k), ProblemUnknownField, "not part of the schema")
		}
		if n.vals[i].kind == 'z' && f.typ.Kind() != reflect.Pointer && f.typ != rawType {
			if f.optional {
				continue // null means absent for an optional member
			}
			return wrongType(join(path, k), typeName(f.typ), n.vals[i])
		}
		if err := c.checkNode(n.vals[i], f.typ, join(path, k)); err != nil {
			return err
		}
		present[k] = true
	}
	for _, name := range fields.required {
		if !present[name] {
			return schemaErr(join(path, name), ProblemMissingField, "required")
		}
	}
	return nil
}

func wrongType(path, want string, got *node) error {
	return schemaErr(path, ProblemWrongType, "want %s, got %s", want, got.kindName())
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "integer"
}

type fieldInfo struct {
	typ      reflect.Type
	optional bool
}

type structFields struct {
	byName   map[string]fieldInfo
	required []string
}

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if v, ok := fieldCache.Load(t); ok {
		return v.(*structFields)
	}
	sf := &structFields{byName: make(map[string]fieldInfo)}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		sf.byName[name] = fieldInfo{typ: f.Type, optional: optional}
		if !optional {
			sf.required = append(sf.required, name)
		}
	}
	fieldCache.Store(t, sf)
	return sf
}
