package canary

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Form is one way a leaked value can be spelt in the bytes a surface holds. The
// values are stable: test failures name them.
type Form string

// The forms Scan searches, in the order it reports them: a value found in several
// forms is reported in the first.
const (
	Plain       Form = "plain"        // as the test fed it in
	JSONEscaped Form = "json-escaped" // inside a JSON string, any characters written as \u escapes
	CaseFolded  Form = "case-folded"  // upper- or lower-cased (ASCII letters), JSON-escaped or not
	Hex         Form = "hex"          // the value's bytes as hex digits, lower, upper or mixed
	Base64      Form = "base64"       // standard base64 from any byte offset (slog's JSON for []byte)
	Base64URL   Form = "base64url"    // URL-safe base64 from any byte offset (JWS segments)
	UTF16LE     Form = "utf-16le"     // UTF-16 code units, little-endian (case-folded too)
	UTF16BE     Form = "utf-16be"     // UTF-16 code units, big-endian (case-folded too)
)

// Forms lists every form Scan searches, in the order it reports them.
func Forms() []Form {
	return []Form{Plain, JSONEscaped, CaseFolded, Hex, Base64, Base64URL, UTF16LE, UTF16BE}
}

// MinLen is the shortest canary value the harness accepts. A shorter one turns up by
// chance: four digits occur in hex ids and digests, and the base64 of a value seen
// from an offset loses up to two characters at each end.
const MinLen = 6

// Encode spells value in form f as a leak would write it, for planting a canary and
// for tests: the base64 forms encode the whole value from a 3-byte boundary, JSON
// escaping writes every character as a \u escape (the spelling a plain search misses
// most surely), case folding swaps the case of every ASCII letter, hex is upper-case.
func Encode(f Form, value string) []byte {
	switch f {
	case Plain:
		return []byte(value)
	case JSONEscaped:
		var b strings.Builder
		for _, u := range utf16.Encode([]rune(value)) {
			fmt.Fprintf(&b, `\u%04x`, u)
		}
		return []byte(b.String())
	case CaseFolded:
		out := []byte(value)
		for i, c := range out {
			switch {
			case 'a' <= c && c <= 'z':
				out[i] = c - 'a' + 'A'
			case 'A' <= c && c <= 'Z':
				out[i] = c - 'A' + 'a'
			}
		}
		return out
	case Hex:
		return []byte(strings.ToUpper(hex.EncodeToString([]byte(value))))
	case Base64:
		return []byte(base64.StdEncoding.EncodeToString([]byte(value)))
	case Base64URL:
		return []byte(base64.URLEncoding.EncodeToString([]byte(value)))
	case UTF16LE:
		return utf16Bytes(value, binary.LittleEndian)
	case UTF16BE:
		return utf16Bytes(value, binary.BigEndian)
	}
	panic(fmt.Sprintf("canary: unknown form %q", f))
}

func utf16Bytes(s string, order binary.AppendByteOrder) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		out = order.AppendUint16(out, u)
	}
	return out
}

// fold lower-cases ASCII letters only. bytes.ToLower would rewrite every byte of
// binary data that is not valid UTF-8 (a bbolt page) as U+FFFD; this keeps offsets
// and UTF-16 code units intact.
func fold(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// base64Needles returns, for each of the three byte alignments a value can have in a
// longer encoded text, the run of characters that depends on the value's bytes alone.
// A value starting k bytes after a 3-byte boundary shares its first output
// characters with the bytes before it; those (and the last, shared with what follows)
// are cut off.
func base64Needles(enc *base64.Encoding, value []byte) [][]byte {
	var out [][]byte
	for a := 0; a < 3; a++ {
		padded := append(make([]byte, a), value...)
		s := enc.EncodeToString(padded)
		start := (8*a + 5) / 6          // first character made of value bits only
		end := (8*a + 8*len(value)) / 6 // one past the last such character
		out = append(out, []byte(s[start:end]))
	}
	return out
}

// needles are a canary's spellings, computed once per harness.
type needles struct {
	plain, folded, hex []byte
	b64, b64url        [][]byte
	le, leFolded       []byte
	be, beFolded       []byte
}

func newNeedles(value string) needles {
	v := []byte(value)
	fv := fold(v)
	b64 := base64Needles(base64.RawStdEncoding, v)
	// A URL-safe run without - or _ is the standard one, searched already.
	b64url := slices.DeleteFunc(base64Needles(base64.RawURLEncoding, v), func(n []byte) bool {
		return slices.ContainsFunc(b64, func(m []byte) bool { return bytes.Equal(m, n) })
	})
	return needles{
		plain: v, folded: fv, hex: []byte(hex.EncodeToString(v)),
		b64: b64, b64url: b64url,
		le: utf16Bytes(value, binary.LittleEndian), leFolded: utf16Bytes(string(fv), binary.LittleEndian),
		be: utf16Bytes(value, binary.BigEndian), beFolded: utf16Bytes(string(fv), binary.BigEndian),
	}
}

// views are the readings of one item's bytes that the needles are searched in: the
// bytes, the bytes with JSON string escapes decoded (up to three nested levels: a
// JSON payload quoted in a JSON log line), and both case-folded.
type views struct {
	raw, unescaped      [][]byte
	folded, unescFolded [][]byte
}

func newViews(data []byte) views {
	v := views{raw: [][]byte{data}, folded: [][]byte{fold(data)}}
	cur := data
	for range 3 {
		if !bytes.Contains(cur, []byte(`\`)) {
			break
		}
		next := unescapeJSON(cur)
		if bytes.Equal(next, cur) {
			break
		}
		v.unescaped = append(v.unescaped, next)
		v.unescFolded = append(v.unescFolded, fold(next))
		cur = next
	}
	return v
}

func containsAny(hay [][]byte, needle []byte) bool {
	for _, h := range hay {
		if bytes.Contains(h, needle) {
			return true
		}
	}
	return false
}

// find reports the first form in which the canary n occurs in v.
func (v views) find(n needles) (Form, bool) {
	all := append(append([][]byte{}, v.raw...), v.unescaped...)
	allFolded := append(append([][]byte{}, v.folded...), v.unescFolded...)
	switch {
	case containsAny(v.raw, n.plain):
		return Plain, true
	case containsAny(v.unescaped, n.plain):
		return JSONEscaped, true
	case containsAny(allFolded, n.folded):
		return CaseFolded, true
	case containsAny(allFolded, n.hex):
		return Hex, true
	}
	for _, b := range n.b64 {
		if containsAny(all, b) {
			return Base64, true
		}
	}
	for _, b := range n.b64url {
		if containsAny(all, b) {
			return Base64URL, true
		}
	}
	switch {
	case containsAny(v.raw, n.le) || containsAny(v.folded, n.leFolded):
		return UTF16LE, true
	case containsAny(v.raw, n.be) || containsAny(v.folded, n.beFolded):
		return UTF16BE, true
	}
	return "", false
}

// Find reports the first form, in the order of Forms, in which value occurs in data.
func Find(data []byte, value string) (Form, bool) {
	return newViews(data).find(newNeedles(value))
}

// unescapeJSON decodes the escapes of JSON strings wherever they occur in data (it
// does not parse JSON: a log line or a binary file may hold JSON text anywhere).
// Malformed escapes are kept as they are; a \u escape that encodes a surrogate pair
// becomes its character.
func unescapeJSON(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c != '\\' || i+1 >= len(data) {
			out = append(out, c)
			continue
		}
		switch e := data[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
			i++
		case 'b', 'f', 'n', 'r', 't':
			out = append(out, "\b\f\n\r\t"[strings.IndexByte("bfnrt", e)])
			i++
		case 'u':
			r, ok := hex4(data[i+2:])
			if !ok {
				out = append(out, c)
				continue
			}
			i += 5
			if utf16.IsSurrogate(r) {
				if len(data) > i+2 && data[i+1] == '\\' && data[i+2] == 'u' {
					if r2, ok := hex4(data[i+3:]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r = dec
							i += 6
						}
					}
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			out = append(out, c)
		}
	}
	return out
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
