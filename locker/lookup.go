package locker

import (
	"encoding/binary"
	"fmt"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// findByWaybill finds the parcel whose waybill digest is d, trying each live epoch's
// sealed form: a handful of HMACs and index reads, whatever the number of parcels.
func (s *Station) findByWaybill(t store.Tx, d privacy.Digest) (*Parcel, error) {
	for _, e := range s.liveEpochs() {
		k, ok := s.keyring.Lookup(e)
		if !ok {
			continue
		}
		if id, ok := t.ByWaybill(privacy.Seal(k, d)); ok {
			return readParcel(t, ParcelID(id))
		}
	}
	return nil, ErrUnknownParcel
}

// verifierKind says which of a parcel's verifiers a lookup is for (ADR 0046): each
// kind of entry opens only parcels whose verifier of that kind matches.
type verifierKind int

const (
	kindLegacy verifierKind = iota // scheme 1: the code alone (Parcel.Verifier)
	kindCode2                      // scheme 2: the code and the phone's last four (Parcel.CodeVerifier)
	kindQR                         // a pickup QR's secret (Parcel.QRVerifier)
)

// verifierKey is one lookup: a digest and the field it must match.
type verifierKey struct {
	kind verifierKind
	v    privacy.Digest
}

func (k verifierKind) of(p *Parcel) privacy.Digest {
	switch k {
	case kindCode2:
		return p.CodeVerifier
	case kindQR:
		return p.QRVerifier
	}
	return p.Verifier
}

// findByVerifier returns every parcel (announced or deposited) whose verifier of k's
// kind is k's digest. The index holds every kind; the record says which matched.
func (s *Station) findByVerifier(t store.Tx, k verifierKey) ([]*Parcel, error) {
	var out []*Parcel
	for _, e := range s.liveEpochs() {
		key, ok := s.keyring.Lookup(e)
		if !ok {
			continue
		}
		sealed := privacy.Seal(key, k.v)
		for _, id := range t.ByCode(sealed) {
			p, err := readParcel(t, ParcelID(id))
			if err != nil {
				return nil, err
			}
			if k.kind.of(p) == sealed {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// seal returns d sealed under epoch e's key, creating the key if the epoch is new.
func (s *Station) seal(e uint32, d privacy.Digest) (privacy.Digest, error) {
	k, err := s.keyring.Key(e)
	if err != nil {
		return privacy.Digest{}, err
	}
	return privacy.Seal(k, d), nil
}

// sealedMatches reports whether p's sealed waybill is the seal of d.
func (s *Station) sealedMatches(p *Parcel, d privacy.Digest) bool {
	k, ok := s.keyring.Lookup(p.Epoch)
	return ok && privacy.Seal(k, d) == p.Waybill
}

// opWaybillAD binds a sealed OpWaybill to its purpose.
var opWaybillAD = []byte("lockerd unannounced waybill v1")

// sealOpWaybill seals the waybill digest of an unannounced parcel of epoch e for its
// compartment's record (Compartment.OpWaybill).
func (t *txn) sealOpWaybill(e uint32, d privacy.Digest) ([]byte, error) {
	key, err := t.s.keyring.Key(e)
	if err != nil {
		return nil, fmt.Errorf("locker: epoch key: %w", err)
	}
	return append(binary.BigEndian.AppendUint32(nil, e), privacy.SealBytes(key, d[:], opWaybillAD)...), nil
}

// openOpWaybill recovers a digest sealed by sealOpWaybill; nil when there is none or its
// epoch key is gone.
func (s *Station) openOpWaybill(sealed []byte) *privacy.Digest {
	if len(sealed) < 4 {
		return nil
	}
	key, ok := s.keyring.Lookup(binary.BigEndian.Uint32(sealed))
	if !ok {
		return nil
	}
	plain, err := privacy.OpenBytes(key, sealed[4:], opWaybillAD)
	var d privacy.Digest
	if err != nil || len(plain) != len(d) {
		return nil
	}
	copy(d[:], plain)
	return &d
}
