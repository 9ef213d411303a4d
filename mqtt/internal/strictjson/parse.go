package strictjson

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting; the deepest legitimate payload has four levels.
const maxDepth = 16

// node is a parsed JSON value. Object members keep their order so errors
// can name them; start and end delimit the value's bytes for raw members.
type node struct {
	kind       byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	keys       []string
	vals       []*node // object member values, parallel to keys; array elements
	str        string  // string value or number literal
	truth      bool
	start, end int
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

// parse parses exactly one JSON value (RFC 8259), refusing invalid UTF-8
// and lone surrogate escapes (which encoding/json would silently replace),
// duplicate members (parsers disagree on which one wins), nesting deeper
// than maxDepth and trailing data.
func parse(data []byte) (*node, error) {
	if !utf8.Valid(data) {
		return nil, fail(Malformed, "not UTF-8")
	}
	p := &parser{data: data}
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, fail(Malformed, "data after the JSON value")
	}
	return n, nil
}

type parser struct {
	data  []byte
	pos   int
	arena []node // nodes are carved from chunks: one allocation per 64 values (the first sized to the input)

	// Members of the objects and arrays being parsed are stacked here and copied
	// into chunks, exactly sized, when their container closes: a container costs no
	// allocation of its own as it grows.
	keyStack []string
	valStack []*node
	keyChunk []string
	valChunk []*node
}

// keep moves the members stacked from vbase and, for an object, the keys stacked
// from kbase into n.
func (p *parser) keep(n *node, vbase, kbase int, object bool) {
	vals := p.valStack[vbase:]
	if len(vals) > cap(p.valChunk)-len(p.valChunk) {
		p.valChunk = make([]*node, 0, max(32, len(vals)))
	}
	start := len(p.valChunk)
	p.valChunk = append(p.valChunk, vals...)
	n.vals = p.valChunk[start:len(p.valChunk):len(p.valChunk)]
	clear(vals)
	p.valStack = p.valStack[:vbase]
	if !object {
		return
	}
	keys := p.keyStack[kbase:]
	if len(keys) > cap(p.keyChunk)-len(p.keyChunk) {
		p.keyChunk = make([]string, 0, max(32, len(keys)))
	}
	start = len(p.keyChunk)
	p.keyChunk = append(p.keyChunk, keys...)
	n.keys = p.keyChunk[start:len(p.keyChunk):len(p.keyChunk)]
	clear(keys)
	p.keyStack = p.keyStack[:kbase]
}

func (p *parser) newNode(kind byte) *node {
	if len(p.arena) == cap(p.arena) {
		// The first chunk is sized to the input (a value takes a few bytes at least):
		// an event of a few hundred bytes needs a dozen nodes, not 64, and the fleet
		// side decodes thousands a second (docs/adr/0067-fleet-side-event-intake.md).
		n := 64
		if p.arena == nil {
			n = min(64, max(8, len(p.data)/16))
		}
		p.arena = make([]node, 0, n)
	}
	p.arena = append(p.arena, node{kind: kind})
	return &p.arena[len(p.arena)-1]
}

func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) malformed() error { return fail(Malformed, "invalid JSON") }

// literal consumes word if it is next.
func (p *parser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *parser) value(depth int) (*node, error) {
	p.space()
	if p.pos >= len(p.data) {
		return nil, p.malformed()
	}
	start := p.pos
	var n *node
	var err error
	switch c := p.data[p.pos]; {
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return nil, fail(TooDeep, "nested deeper than %d", maxDepth)
		}
		if c == '{' {
			n, err = p.object(depth)
		} else {
			n, err = p.array(depth)
		}
	case c == '"':
		var s string
		s, err = p.string()
		n = p.newNode('s')
		n.str = s
	case c == '-' || c >= '0' && c <= '9':
		var s string
		s, err = p.number()
		n = p.newNode('n')
		n.str = s
	case p.literal("true"):
		n = p.newNode('b')
		n.truth = true
	case p.literal("false"):
		n = p.newNode('b')
	case p.literal("null"):
		n = p.newNode('z')
	default:
		return nil, p.malformed()
	}
	if err != nil {
		return nil, err
	}
	n.start, n.end = start, p.pos
	return n, nil
}

func (p *parser) object(depth int) (*node, error) {
	p.pos++ // {
	n := p.newNode('o')
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return n, nil
	}
	// Members are stacked from base until the object closes (keep). An error
	// leaves the stacks as they are: the parser is not used after one.
	vbase, kbase := len(p.valStack), len(p.keyStack)
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.malformed()
		}
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		for _, k := range p.keyStack[kbase:] {
			if k == key {
				return nil, &Error{Path: PathKey(key), Problem: Duplicate, Detail: "member appears twice"}
			}
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.malformed()
		}
		p.pos++
		val, err := p.value(depth + 1)
		if err != nil {
			return nil, underKey(err, key)
		}
		p.keyStack, p.valStack = append(p.keyStack, key), append(p.valStack, val)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.malformed()
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.keep(n, vbase, kbase, true)
			return n, nil
		default:
			return nil, p.malformed()
		}
	}
}

func (p *parser) array(depth int) (*node, error) {
	p.pos++ // [
	n := p.newNode('a')
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return n, nil
	}
	base := len(p.valStack) // see object
	for {
		i := len(p.valStack) - base // a failed element may leave its members stacked
		val, err := p.value(depth + 1)
		if err != nil {
			return nil, underIndex(err, i)
		}
		p.valStack = append(p.valStack, val)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.malformed()
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.keep(n, base, 0, false)
			return n, nil
		default:
			return nil, p.malformed()
		}
	}
}

// string parses a string starting at the opening quote.
func (p *parser) string() (string, error) {
	p.pos++ // "
	start := p.pos
	for p.pos < len(p.data) { // fast path: no escapes
		c := p.data[p.pos]
		if c == '"' {
			s := string(p.data[start:p.pos])
			p.pos++
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.malformed()
		}
		p.pos++
	}
	var b strings.Builder
	b.Write(p.data[start:p.pos])
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c < 0x20:
			return "", p.malformed()
		case c != '\\':
			b.WriteByte(c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.data) {
			return "", p.malformed()
		}
		esc := p.data[p.pos+1]
		p.pos += 2
		switch esc {
		case '"', '\\', '/':
			b.WriteByte(esc)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.malformed()
			}
			if utf16.IsSurrogate(r) {
				var r2 rune
				if !p.literal(`\u`) {
					return "", fail(Malformed, "lone surrogate escape")
				}
				if r2, ok = p.hex4(); !ok {
					return "", p.malformed()
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", fail(Malformed, "lone surrogate escape")
				}
			}
			b.WriteRune(r)
		default:
			return "", p.malformed()
		}
	}
	return "", p.malformed()
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	p.pos += 4
	return rune(v), true
}

// number parses -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and returns
// its literal text.
func (p *parser) number() (string, error) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.data[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.data) && p.data[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return "", p.malformed()
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return "", p.malformed()
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return "", p.malformed()
		}
	}
	return string(p.data[start:p.pos]), nil
}
