package jws

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/oasisprotocol/curve25519-voi/curve"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Keys is a set of Ed25519 verification keys prepared for verifying many tokens:
// each key is decompressed once and carries a precomputed table, which makes a
// verification about twice as fast as crypto/ed25519's (docs/benchmarks.md). The
// verification equation is crypto/ed25519's exactly (cofactorless, canonical
// encodings only; a differential fuzz test holds the two to the same answers). A
// Keys is immutable and safe for concurrent use.
type Keys struct {
	expanded []*voi.ExpandedPublicKey
}

// verifyOptions selects crypto/ed25519's verification rules in curve25519-voi.
var verifyOptions = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// NewKeys prepares keys, in the order they are tried.
func NewKeys(keys ...ed25519.PublicKey) (*Keys, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no verification key", ErrKey)
	}
	k := &Keys{expanded: make([]*voi.ExpandedPublicKey, len(keys))}
	for i, pub := range keys {
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: public key is %d bytes, want %d", ErrKey, len(pub), ed25519.PublicKeySize)
		}
		if err := strongKey(pub); err != nil {
			return nil, fmt.Errorf("%w: public key %d: %v", ErrKey, i, err)
		}
		e, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
		if err != nil { // not a point on the curve: no signature could verify
			return nil, fmt.Errorf("%w: public key %d: %v", ErrKey, i, err)
		}
		k.expanded[i] = e
	}
	return k, nil
}

// strongKey refuses a public key no honest signer has: a small-order point (for which
// anyone can forge signatures crypto/ed25519 accepts, e.g. R = identity, S = 0) or a
// non-canonical encoding. crypto/ed25519 verifies under such keys; a fleet key never
// is one, so pinning one is a configuration mistake or an attack.
func strongKey(pub ed25519.PublicKey) error {
	var c curve.CompressedEdwardsY
	if _, err := c.SetBytes(pub); err != nil {
		return err
	}
	var p curve.EdwardsPoint
	if _, err := p.SetCompressedY(&c); err != nil {
		return errors.New("not a point on the curve")
	}
	if p.IsSmallOrder() {
		return errors.New("a small-order point: anyone could sign for it")
	}
	var back curve.CompressedEdwardsY
	back.SetEdwardsPoint(&p)
	if !bytes.Equal(back[:], pub) {
		return errors.New("not canonically encoded")
	}
	return nil
}

// VerifyKeys is Verify with prepared keys.
func (t *Token) VerifyKeys(k *Keys) error {
	if k == nil || len(k.expanded) == 0 {
		return fmt.Errorf("%w: no verification key", ErrKey)
	}
	for _, e := range k.expanded {
		if voi.VerifyExpandedWithOptions(e, t.signingInput, t.signature, verifyOptions) {
			return nil
		}
	}
	return ErrBadSignature
}
