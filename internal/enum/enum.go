// Package enum is the one implementation behind every enumeration of lockerd whose
// names are stable (ADR 0044): the string enumerations of the wire (mqtt/protocol),
// the numeric ones stored by number and shown by name (locker's Size and Kind), and
// the numeric ones named in config files (drivers/lockboard's Protocol).
//
// A Set holds the values in a fixed order, each value's stable name, the other
// names Parse also accepts, and how an unknown name is reported. The enumerated
// type keeps its own methods (String, Valid, MarshalText, ...), each a one-line call
// into its Set: Go cannot add methods to a type from a generic one, and the type's
// package keeps its error messages.
package enum

import (
	"errors"
	"fmt"
	"slices"
)

// Def is one value of an enumeration and its stable name.
type Def[T any] struct {
	Value T
	Name  string
}

// Spec defines an enumeration for New.
type Spec[T comparable] struct {
	// Defs lists the values and their names, in the order Values returns them.
	Defs []Def[T]
	// Aliases are more names Parse accepts; String never returns them.
	Aliases map[string]T
	// Unknown is Parse's error for a name outside the set (required).
	Unknown func(name string) error
	// Other is the fmt format (one verb, given the value) of String for a value
	// outside the set, e.g. "size(%d)" (required). It must not use %v or %s where
	// the type's String method calls this Set: that would recurse.
	Other string
	// Unencodable is MarshalText's error for a value outside the set. Default: an
	// error saying "cannot encode" and what String returns.
	Unencodable func(v T) error
}

// Set is an enumeration: its values in order and their stable names. It is
// immutable and safe for concurrent use.
type Set[T comparable] struct {
	values      []T
	names       []string
	index       map[T]int    // value -> position in values and names
	byName      map[string]T // names and aliases
	unknown     func(string) error
	other       func(T) string
	unencodable func(T) error
}

// New makes a Set. It panics on a duplicate value or name, or without Unknown or
// Other: enumerations are package-level variables, so the panic happens at start,
// in every test.
func New[T comparable](s Spec[T]) *Set[T] {
	if s.Other == "" {
		panic("enum: Spec.Other is required")
	}
	return newSet(s, func(v T) string { return fmt.Sprintf(s.Other, v) })
}

func newSet[T comparable](s Spec[T], other func(T) string) *Set[T] {
	if s.Unknown == nil {
		panic("enum: Spec.Unknown is required")
	}
	e := &Set[T]{
		index: make(map[T]int, len(s.Defs)), byName: make(map[string]T, len(s.Defs)+len(s.Aliases)),
		unknown: s.Unknown, other: other, unencodable: s.Unencodable,
	}
	add := func(name string, v T) {
		if _, dup := e.byName[name]; dup {
			panic(fmt.Sprintf("enum: name %q defined twice", name))
		}
		e.byName[name] = v
	}
	for i, d := range s.Defs {
		if _, dup := e.index[d.Value]; dup {
			panic(fmt.Sprintf("enum: value %#v (%q) defined twice", d.Value, d.Name))
		}
		e.index[d.Value] = i
		e.values = append(e.values, d.Value)
		e.names = append(e.names, d.Name)
		add(d.Name, d.Value)
	}
	for name, v := range s.Aliases {
		if _, ok := e.index[v]; !ok {
			panic(fmt.Sprintf("enum: alias %q of an undefined value %#v", name, v))
		}
		add(name, v)
	}
	return e
}

// Strings makes the Set of a string enumeration, whose values are their own names.
func Strings[T ~string](unknown func(name string) error, values ...T) *Set[T] {
	defs := make([]Def[T], len(values))
	for i, v := range values {
		defs[i] = Def[T]{Value: v, Name: string(v)}
	}
	return newSet(Spec[T]{Defs: defs, Unknown: unknown}, func(v T) string { return string(v) })
}

// Valid reports whether v is in the set.
func (e *Set[T]) Valid(v T) bool {
	_, ok := e.index[v]
	return ok
}

// Parse returns the value named name (a name or an alias), or the zero value and
// the Spec's Unknown error.
func (e *Set[T]) Parse(name string) (T, error) {
	if v, ok := e.byName[name]; ok {
		return v, nil
	}
	var zero T
	return zero, e.unknown(name)
}

// String returns v's stable name; for a value outside the set, v formatted with
// the Spec's Other format (a string enumeration's value itself).
func (e *Set[T]) String(v T) string {
	if i, ok := e.index[v]; ok {
		return e.names[i]
	}
	return e.other(v)
}

// MarshalText returns v's stable name, or an error for a value outside the set.
func (e *Set[T]) MarshalText(v T) ([]byte, error) {
	i, ok := e.index[v]
	if !ok {
		if e.unencodable != nil {
			return nil, e.unencodable(v)
		}
		return nil, errors.New("cannot encode " + e.String(v))
	}
	return []byte(e.names[i]), nil
}

// UnmarshalText parses b into *v. Like Parse, it stores the zero value along with
// the error when b names nothing in the set.
func (e *Set[T]) UnmarshalText(v *T, b []byte) error {
	x, err := e.Parse(string(b))
	*v = x
	return err
}

// Values returns the values in their defined order, as a new slice.
func (e *Set[T]) Values() []T { return slices.Clone(e.values) }

// Names returns the stable names in the order of Values, as a new slice.
func (e *Set[T]) Names() []string { return slices.Clone(e.names) }
