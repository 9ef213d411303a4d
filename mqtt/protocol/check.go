package protocol

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// decodeStrict decodes data into v (a pointer to a wire struct) in one
// pass over the parsed tree: every member known, every required member
// present, every value of the right JSON type, then stored. A member is
// required unless its json tag says omitempty or omitzero. Semantic checks
// (enums, ranges, ids) are the types' own Validate methods, run by callers.
// path names where data sits in the whole payload ("" or "body").
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
	n, err := parseTree(data)
	if err == nil {
		err = c.store(n, data, reflect.ValueOf(v).Elem())
	}
	if se, ok := err.(*SchemaError); ok && path != "" {
		se.Path = joinPath(path, se.Path)
	}
	return err
}

var (
	digestType = reflect.TypeFor[Digest]()
	timeType   = reflect.TypeFor[time.Time]()
	rawType    = reflect.TypeFor[json.RawMessage]()
)

// store checks n against dst's type and stores it into dst.
func (c checker) store(n *node, data []byte, dst reflect.Value) error {
	t := dst.Type()
	switch t {
	case rawType:
		dst.SetBytes(append([]byte(nil), data[n.start:n.end]...))
		return nil
	case digestType:
		if n.kind != 's' {
			return wrongType("string", n)
		}
		d, err := ParseDigest(n.str)
		if err != nil {
			return schemaErr("", ProblemBadDigest, "want 64 lower-case hex digits, got %d characters", len(n.str))
		}
		dst.Set(reflect.ValueOf(d))
		return nil
	case timeType:
		if n.kind != 's' {
			return wrongType("string", n)
		}
		tm, err := time.Parse(time.RFC3339Nano, n.str)
		if err != nil {
			return schemaErr("", ProblemBadValue, "not an RFC 3339 time")
		}
		dst.Set(reflect.ValueOf(tm))
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if n.kind == 'z' {
			dst.SetZero()
			return nil
		}
		elem := reflect.New(t.Elem())
		if err := c.store(n, data, elem.Elem()); err != nil {
			return err
		}
		dst.Set(elem)
	case reflect.String:
		if n.kind != 's' {
			return wrongType("string", n)
		}
		dst.SetString(n.str)
	case reflect.Bool:
		if n.kind != 'b' {
			return wrongType("boolean", n)
		}
		dst.SetBool(n.truth)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.kind != 'n' {
			return wrongType("integer", n)
		}
		i, err := strconv.ParseInt(n.str, 10, t.Bits())
		if err != nil {
			return schemaErr("", ProblemWrongType, "want an integer within %d bits", t.Bits())
		}
		dst.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.kind != 'n' {
			return wrongType("integer", n)
		}
		u, err := strconv.ParseUint(n.str, 10, t.Bits())
		if err != nil {
			return schemaErr("", ProblemWrongType, "want a non-negative integer within %d bits", t.Bits())
		}
		dst.SetUint(u)
	case reflect.Slice:
		if n.kind != 'a' {
			return wrongType("array", n)
		}
		s := reflect.MakeSlice(t, len(n.vals), len(n.vals))
		for i, el := range n.vals {
			if err := c.store(el, data, s.Index(i)); err != nil {
				return underIndex(err, i)
			}
		}
		dst.Set(s)
	case reflect.Map:
		if n.kind != 'o' {
			return wrongType("object", n)
		}
		m := reflect.MakeMapWithSize(t, len(n.keys))
		for i, k := range n.keys {
			v := reflect.New(t.Elem()).Elem()
			if err := c.store(n.vals[i], data, v); err != nil {
				return underKey(err, k)
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), v)
		}
		dst.Set(m)
	case reflect.Struct:
		return c.storeStruct(n, data, dst)
	default:
		return schemaErr("", ProblemMalformed, "unsupported wire type %s", t)
	}
	return nil
}

func (c checker) storeStruct(n *node, data []byte, dst reflect.Value) error {
	if n.kind != 'o' {
		return wrongType("object", n)
	}
	fields := fieldsOf(dst.Type())
	var present uint64 // bit i: required field i seen; wire structs have few fields
	for i, k := range n.keys {
		f, ok := fields.byName[k]
		if !ok {
			if c.lenient {
				continue
			}
			return schemaErr(pathKey(k), ProblemUnknownField, "not part of the schema")
		}
		v := n.vals[i]
		if v.kind == 'z' && f.typ.Kind() != reflect.Pointer && f.typ != rawType {
			if f.optional {
				continue // null means absent for an optional member
			}
			return underKey(wrongType(typeName(f.typ), v), k)
		}
		if err := c.store(v, data, dst.Field(f.index)); err != nil {
			return underKey(err, k)
		}
		if f.required >= 0 {
			present |= 1 << f.required
		}
	}
	if want := uint64(1)<<len(fields.required) - 1; present != want {
		for i, name := range fields.required {
			if present&(1<<i) == 0 {
				return schemaErr(pathKey(name), ProblemMissingField, "required")
			}
		}
	}
	return nil
}

func wrongType(want string, got *node) error {
	return schemaErr("", ProblemWrongType, "want %s, got %s", want, got.kindName())
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
	index    int
	optional bool
	required int // position in structFields.required, or -1
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
		fi := fieldInfo{typ: f.Type, index: i, required: -1}
		fi.optional = strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		if !fi.optional {
			fi.required = len(sf.required)
			sf.required = append(sf.required, name)
		}
		sf.byName[name] = fi
	}
	if len(sf.required) > 64 {
		panic("protocol: wire struct " + t.String() + " has more than 64 required members")
	}
	fieldCache.Store(t, sf)
	return sf
}
