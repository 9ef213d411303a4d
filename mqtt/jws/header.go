package jws

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// refusedParams are registered header parameters that change how a token
// must be processed or where its key comes from. Naming them gives a clearer
// error than "unknown parameter"; both are refused.
var refusedParams = map[string]string{
	"crit": "critical extensions are not supported",
	"b64":  "unencoded payloads (RFC 7797) are not supported",
	"jwk":  "embedded keys are not trusted",
	"jku":  "key URLs are not trusted",
	"x5c":  "embedded certificates are not trusted",
	"x5u":  "certificate URLs are not trusted",
	"x5t":  "certificate thumbprints are not supported",
	"zip":  "compression is not supported",
	"enc":  "encryption is not supported",
}

// decodePart decodes one base64url part. The RFC's base64url has no padding
// and no whitespace; Go's decoder silently skips CR and LF, so the alphabet is
// checked byte by byte first, and Strict rejects non-zero trailing bits, so
// every value has exactly one accepted encoding.
func decodePart(part []byte, name string) ([]byte, error) {
	if len(part) == 0 {
		return nil, fmt.Errorf("%w: empty %s", ErrMalformed, name)
	}
	for i, c := range part {
		if !isBase64URL(c) {
			return nil, fmt.Errorf("%w: %s has a non-base64url byte at offset %d", ErrMalformed, name, i)
		}
	}
	enc := base64.RawURLEncoding.Strict()
	out := make([]byte, enc.DecodedLen(len(part)))
	n, err := enc.Decode(out, part)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not canonical base64url", ErrMalformed, name)
	}
	return out[:n], nil
}

func isBase64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// parseHeader decodes the protected header strictly: a single JSON object of
// string members, no duplicates (parsers disagree on which one wins), no
// trailing data, alg exactly "EdDSA", and only the members Header knows.
func parseHeader(raw []byte) (Header, error) {
	var h Header
	if !utf8.Valid(raw) {
		return h, fmt.Errorf("%w: header is not UTF-8", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return h, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	seen := make(map[string]bool, 3)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return h, fmt.Errorf("%w: header is not valid JSON", ErrMalformed)
		}
		name, _ := tok.(string)
		if seen[name] {
			return h, fmt.Errorf("%w: header repeats %.32q", ErrMalformed, name)
		}
		seen[name] = true
		var val any
		if err := dec.Decode(&val); err != nil {
			return h, fmt.Errorf("%w: header is not valid JSON", ErrMalformed)
		}
		if why, ok := refusedParams[name]; ok {
			return h, fmt.Errorf("%w: %q: %s", ErrUnsupported, name, why)
		}
		s, isString := val.(string)
		switch name {
		case "alg", "kid", "typ":
			if !isString {
				return h, fmt.Errorf("%w: header %q is not a string", ErrMalformed, name)
			}
		default:
			return h, fmt.Errorf("%w: unknown header parameter %.32q", ErrUnsupported, name)
		}
		switch name {
		case "alg":
			h.Alg = s
		case "kid":
			h.Kid = s
		case "typ":
			h.Typ = s
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return h, fmt.Errorf("%w: header is not valid JSON", ErrMalformed)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return h, fmt.Errorf("%w: data after the header object", ErrMalformed)
	}
	if !seen["alg"] {
		return h, fmt.Errorf("%w: header has no alg", ErrMalformed)
	}
	if h.Alg != Alg {
		return h, fmt.Errorf("%w: alg %.16q, only %q is accepted", ErrUnsupported, h.Alg, Alg)
	}
	if len(h.Kid) > maxKidLen {
		return h, fmt.Errorf("%w: kid longer than %d bytes", ErrUnsupported, maxKidLen)
	}
	return h, nil
}
