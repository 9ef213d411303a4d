package strictjson

import (
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Value is a parsed JSON document, or a part of one.
type Value struct {
	n    *node
	data []byte // the whole document; node offsets index it
}

// Parse parses data (see the package comment for what is refused).
func Parse(data []byte) (*Value, error) {
	n, err := parse(data)
	if err != nil {
		return nil, err
	}
	return &Value{n: n, data: data}, nil
}

// Member returns the named member of an object, or nil.
func (v *Value) Member(name string) *Value {
	for i, k := range v.n.keys {
		if k == name {
			return &Value{n: v.n.vals[i], data: v.data}
		}
	}
	return nil
}

// Decode checks v against the type dst points to and stores it there. A
// struct member is required unless its json tag says omitempty or
// omitzero; null counts as absent for an optional member. Field types may
// be strings, bools, integers, slices, maps with string keys, structs,
// pointers, json.RawMessage and types with a pointer UnmarshalText method.
// With lenient, unknown object members are ignored instead of refused.
func (v *Value) Decode(dst any, lenient bool) error {
	return store(v.n, v.data, reflect.ValueOf(dst).Elem(), lenient)
}

// Decode parses data and decodes it into dst (see Value.Decode).
func Decode(data []byte, dst any, lenient bool) error {
	v, err := Parse(data)
	if err != nil {
		return err
	}
	return v.Decode(dst, lenient)
}

var (
	rawType  = reflect.TypeFor[json.RawMessage]()
	textType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func store(n *node, data []byte, dst reflect.Value, lenient bool) error {
	t := dst.Type()
	if t == rawType {
		dst.SetBytes(append([]byte(nil), data[n.start:n.end]...))
		return nil
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(textType) {
		if n.kind != 's' {
			return wrongType("string", n)
		}
		if err := dst.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.str)); err != nil {
			var we WireError
			if errors.As(err, &we) {
				return &Error{Problem: Problem(we.WireProblem()), Detail: we.WireDetail()}
			}
			return fail(BadValue, "not a valid %s", t.Name())
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if n.kind == 'z' {
			dst.SetZero()
			return nil
		}
		elem := reflect.New(t.Elem())
		if err := store(n, data, elem.Elem(), lenient); err != nil {
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
			return fail(WrongType, "want an integer within %d bits", t.Bits())
		}
		dst.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.kind != 'n' {
			return wrongType("integer", n)
		}
		u, err := strconv.ParseUint(n.str, 10, t.Bits())
		if err != nil {
			return fail(WrongType, "want a non-negative integer within %d bits", t.Bits())
		}
		dst.SetUint(u)
	case reflect.Slice:
		if n.kind != 'a' {
			return wrongType("array", n)
		}
		s := reflect.MakeSlice(t, len(n.vals), len(n.vals))
		for i, el := range n.vals {
			if err := store(el, data, s.Index(i), lenient); err != nil {
				return underIndex(err, i)
			}
		}
		dst.Set(s)
	case reflect.Map:
		if n.kind != 'o' || t.Key().Kind() != reflect.String {
			return wrongType("object", n)
		}
		m := reflect.MakeMapWithSize(t, len(n.keys))
		for i, k := range n.keys {
			v := reflect.New(t.Elem()).Elem()
			if err := store(n.vals[i], data, v, lenient); err != nil {
				return underKey(err, k)
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), v)
		}
		dst.Set(m)
	case reflect.Struct:
		return storeStruct(n, data, dst, lenient)
	default:
		return fail(Malformed, "unsupported field type %s", t)
	}
	return nil
}

func storeStruct(n *node, data []byte, dst reflect.Value, lenient bool) error {
	if n.kind != 'o' {
		return wrongType("object", n)
	}
	fields := fieldsOf(dst.Type())
	var present uint64 // bit i: required field i seen
	for i, k := range n.keys {
		f, ok := fields.byName[k]
		if !ok {
			if lenient {
				continue
			}
			return &Error{Path: PathKey(k), Problem: UnknownField, Detail: "not part of the schema"}
		}
		v := n.vals[i]
		if v.kind == 'z' && f.typ.Kind() != reflect.Pointer && f.typ != rawType {
			if f.optional {
				continue
			}
			return underKey(wrongType(typeName(f.typ), v), k)
		}
		if err := store(v, data, dst.Field(f.index), lenient); err != nil {
			return underKey(err, k)
		}
		if f.required >= 0 {
			present |= 1 << f.required
		}
	}
	if want := uint64(1)<<len(fields.required) - 1; present != want {
		for i, name := range fields.required {
			if present&(1<<i) == 0 {
				return &Error{Path: PathKey(name), Problem: MissingField, Detail: "required"}
			}
		}
	}
	return nil
}

func wrongType(want string, got *node) error {
	return fail(WrongType, "want %s, got %s", want, got.kindName())
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

// fieldsOf reads a struct's json tags once per type.
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
		panic("strictjson: " + t.String() + " has more than 64 required members")
	}
	fieldCache.Store(t, sf)
	return sf
}
