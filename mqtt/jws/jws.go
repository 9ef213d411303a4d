// Package jws implements the single JSON Web Signature shape the cloud link
// accepts: compact serialisation (RFC 7515 §7.1) signed with Ed25519 under the
// "EdDSA" algorithm (RFC 8037). It is deliberately narrower than the RFC:
// the protected header may carry only alg (exactly "EdDSA"), kid and typ, so
// "none", algorithm confusion, "crit" extensions, unencoded payloads (b64) and
// embedded keys (jwk, x5c, ...) are all refused. Base64url must be unpadded
// and canonical, and the size limit is checked before anything is decoded.
// Any stack that can produce an Ed25519 signature (openssl, libsodium, JOSE
// libraries) can sign tokens this package verifies.
package jws

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"unicode/utf8"
)

// Alg is the only accepted value of the "alg" header parameter.
const Alg = "EdDSA"

// DefaultMaxSize is the token size limit used when a caller passes a limit of
// zero or less. It leaves room for a batch command of about a hundred parcels.
const DefaultMaxSize = 64 << 10

// maxKidLen bounds the key id so a header cannot smuggle bulk data.
const maxKidLen = 128

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers can map a failure to a stable reason with errors.Is.
var (
	// ErrTooLarge means the token exceeds the size limit; nothing was decoded.
	ErrTooLarge = errors.New("jws: token too large")
	// ErrMalformed means the token is not a well-formed compact JWS.
	ErrMalformed = errors.New("jws: malformed token")
	// ErrUnsupported means the header asks for something this package refuses:
	// another algorithm, "none", crit, b64 or an unknown parameter.
	ErrUnsupported = errors.New("jws: unsupported header")
	// ErrBadSignature means the token is well formed but no given key verifies it.
	ErrBadSignature = errors.New("jws: signature does not verify")
	// ErrKey means a key passed by the caller has the wrong length.
	ErrKey = errors.New("jws: invalid key")
)

// Header is the decoded protected header of a token.
type Header struct {
	// Alg is always Alg in a header returned by Parse.
	Alg string `json:"alg"`
	// Kid optionally names the signing key, so a verifier holding several
	// keys during a rotation can say which one a token claims.
	Kid string `json:"kid,omitempty"`
	// Typ is the optional media type of the whole token (RFC 7515 §4.1.9).
	Typ string `json:"typ,omitempty"`
}

// Token is a parsed compact JWS. Its payload is untrusted until Verify
// returns nil.
type Token struct {
	Header  Header
	Payload []byte

	signingInput []byte // the exact received bytes "header.payload"
	signature    []byte
}

// Sign returns the compact serialisation of payload signed with key. The
// header is {"alg":"EdDSA"} plus "kid" when kid is not empty.
func Sign(key ed25519.PrivateKey, kid string, payload []byte) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key is %d bytes, want %d", ErrKey, len(key), ed25519.PrivateKeySize)
	}
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	if len(kid) > maxKidLen || !utf8.ValidString(kid) {
		return nil, fmt.Errorf("%w: kid must be UTF-8 of at most %d bytes", ErrUnsupported, maxKidLen)
	}
	hdr, err := json.Marshal(Header{Alg: Alg, Kid: kid})
	if err != nil {
		return nil, fmt.Errorf("jws: encode header: %w", err)
	}
	enc := base64.RawURLEncoding
	out := make([]byte, 0, enc.EncodedLen(len(hdr))+enc.EncodedLen(len(payload))+enc.EncodedLen(ed25519.SignatureSize)+2)
	out = enc.AppendEncode(out, hdr)
	out = append(out, '.')
	out = enc.AppendEncode(out, payload)
	sig := ed25519.Sign(key, out)
	out = append(out, '.')
	return enc.AppendEncode(out, sig), nil
}

// Parse decodes a compact JWS without verifying it. maxSize <= 0 means
// DefaultMaxSize. The size is checked first, then the shape, the base64url
// encoding of each part and the header.
func Parse(token []byte, maxSize int) (*Token, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if len(token) > maxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(token), maxSize)
	}
	first := bytes.IndexByte(token, '.')
	last := bytes.LastIndexByte(token, '.')
	if first < 0 || first == last {
		return nil, fmt.Errorf("%w: want three dot-separated parts", ErrMalformed)
	}
	rawHdr, rawPayload, rawSig := token[:first], token[first+1:last], token[last+1:]
	if bytes.IndexByte(rawPayload, '.') >= 0 {
		return nil, fmt.Errorf("%w: want three dot-separated parts", ErrMalformed)
	}
	hdr, err := headerOf(rawHdr)
	if err != nil {
		return nil, err
	}
	payload, err := decodePart(rawPayload, "payload")
	if err != nil {
		return nil, err
	}
	sig, err := decodePart(rawSig, "signature")
	if err != nil {
		return nil, err
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(sig), ed25519.SignatureSize)
	}
	return &Token{
		Header:       hdr,
		Payload:      payload,
		signingInput: bytes.Clone(token[:last]),
		signature:    sig,
	}, nil
}

// lastHeader is the last header that parsed, encoded and decoded: a fleet signs
// every command with the same header, and a parse of it costs as much as the
// claims' (a burst of announcements is CPU-bound; ADR 0031).
var lastHeader atomic.Pointer[parsedHeader]

type parsedHeader struct {
	raw string
	hdr Header
}

// headerOf decodes and parses the encoded header raw.
func headerOf(raw []byte) (Header, error) {
	if m := lastHeader.Load(); m != nil && m.raw == string(raw) {
		return m.hdr, nil
	}
	hdrJSON, err := decodePart(raw, "header")
	if err != nil {
		return Header{}, err
	}
	hdr, err := parseHeader(hdrJSON)
	if err != nil {
		return Header{}, err
	}
	lastHeader.Store(&parsedHeader{raw: string(raw), hdr: hdr})
	return hdr, nil
}

// Verify reports whether any of keys signed t. It returns nil on the first
// key that verifies, ErrBadSignature if none does.
func (t *Token) Verify(keys ...ed25519.PublicKey) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: no verification key", ErrKey)
	}
	for _, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: public key is %d bytes, want %d", ErrKey, len(k), ed25519.PublicKeySize)
		}
		if ed25519.Verify(k, t.signingInput, t.signature) {
			return nil
		}
	}
	return ErrBadSignature
}

// Verify parses token (see Parse) and verifies it against keys, returning
// the token only if both succeed.
func Verify(token []byte, maxSize int, keys ...ed25519.PublicKey) (*Token, error) {
	t, err := Parse(token, maxSize)
	if err != nil {
		return nil, err
	}
	if err := t.Verify(keys...); err != nil {
		return nil, err
	}
	return t, nil
}

// SigningInput returns the bytes the signature covers: the received
// "header.payload" text, not a re-encoding of it.
func (t *Token) SigningInput() []byte { return bytes.Clone(t.signingInput) }
