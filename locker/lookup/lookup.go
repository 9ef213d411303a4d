// Package lookup finds parcels by what people present: a scanned tracking number's
// digest, a pickup code's or QR's verifier. Every digest is stored sealed under the key
// of its parcel's epoch (docs/adr/0002-crypto-shredding.md), so a lookup seals the
// digest under each live epoch's key and reads the store's index: a handful of HMACs
// and index reads, whatever the number of parcels. It also turns a code entry into the
// lookups it asks for (docs/adr/0046-keypad-guessing-budget.md), and seals the waybill
// digest an unannounced deposit keeps in its compartment's record.
//
// It reads, never writes, and holds no state: package locker decides when to look.
package lookup

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// Reader is the part of a store transaction a lookup reads.
type Reader interface {
	Parcel(id string) (*store.Record, error)
	ByWaybill(sealed privacy.Digest) (string, bool)
	ByCode(sealed privacy.Digest) []string
}

// Index seals digests and finds parcels with the epoch keys of one keyring.
type Index struct{ Keyring *privacy.Keyring }

// ReadParcel returns the parcel stored under id (store.ErrUnknownParcel when none).
func ReadParcel(t Reader, id model.ParcelID) (*model.Parcel, error) {
	r, err := t.Parcel(string(id))
	if err != nil {
		return nil, err
	}
	return model.ParcelOf(r), nil
}

// ByWaybill finds the parcel whose waybill digest is d, trying each of epochs' sealed
// form; store.ErrUnknownParcel when none.
func (x Index) ByWaybill(t Reader, d privacy.Digest, epochs []uint32) (*model.Parcel, error) {
	for _, e := range epochs {
		k, ok := x.Keyring.Lookup(e)
		if !ok {
			continue
		}
		if id, ok := t.ByWaybill(privacy.Seal(k, d)); ok {
			return ReadParcel(t, model.ParcelID(id))
		}
	}
	return nil, store.ErrUnknownParcel
}

// Kind says which of a parcel's verifiers a lookup is for (ADR 0046): each kind of
// entry opens only parcels whose verifier of that kind matches.
type Kind int

// Kinds of verifier.
const (
	Legacy Kind = iota // scheme 1: the code alone (Parcel.Verifier)
	Code2              // scheme 2: the code and the phone's last four (Parcel.CodeVerifier)
	QR                 // a pickup QR's secret (Parcel.QRVerifier)
)

// Key is one lookup: a digest and the kind of verifier it must match.
type Key struct {
	Kind Kind
	V    privacy.Digest
}

func (k Kind) of(p *model.Parcel) privacy.Digest {
	switch k {
	case Code2:
		return p.CodeVerifier
	case QR:
		return p.QRVerifier
	}
	return p.Verifier
}

// ByVerifier returns every parcel (announced or deposited) whose verifier of k's kind
// is k's digest, in any of epochs. The index holds every kind; the record says which
// matched.
func (x Index) ByVerifier(t Reader, k Key, epochs []uint32) ([]*model.Parcel, error) {
	var out []*model.Parcel
	for _, e := range epochs {
		key, ok := x.Keyring.Lookup(e)
		if !ok {
			continue
		}
		sealed := privacy.Seal(key, k.V)
		for _, id := range t.ByCode(sealed) {
			p, err := ReadParcel(t, model.ParcelID(id))
			if err != nil {
				return nil, err
			}
			if k.Kind.of(p) == sealed {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// Seal returns d sealed under epoch e's key, creating the key if the epoch is new.
func (x Index) Seal(e uint32, d privacy.Digest) (privacy.Digest, error) {
	k, err := x.Keyring.Key(e)
	if err != nil {
		return privacy.Digest{}, err
	}
	return privacy.Seal(k, d), nil
}

// Matches reports whether p's sealed waybill is the seal of d.
func (x Index) Matches(p *model.Parcel, d privacy.Digest) bool {
	k, ok := x.Keyring.Lookup(p.Epoch)
	return ok && privacy.Seal(k, d) == p.Waybill
}

// opWaybillAD binds a sealed OpWaybill to its purpose.
var opWaybillAD = []byte("lockerd unannounced waybill v1")

// SealWaybill seals the waybill digest of an unannounced parcel of epoch e for its
// compartment's record (Compartment.OpWaybill).
func (x Index) SealWaybill(e uint32, d privacy.Digest) ([]byte, error) {
	key, err := x.Keyring.Key(e)
	if err != nil {
		return nil, fmt.Errorf("locker: epoch key: %w", err)
	}
	return append(binary.BigEndian.AppendUint32(nil, e), privacy.SealBytes(key, d[:], opWaybillAD)...), nil
}

// OpenWaybill recovers a digest sealed by SealWaybill; nil when there is none or its
// epoch key is gone.
func (x Index) OpenWaybill(sealed []byte) *privacy.Digest {
	if len(sealed) < 4 {
		return nil
	}
	key, ok := x.Keyring.Lookup(binary.BigEndian.Uint32(sealed))
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

// ErrFormat refuses a code entry of no accepted shape: it costs no guess.
var ErrFormat = errors.New("lookup: code or phone digits of the wrong format")

// Entry is a pickup code entry in the forms its lookups need: Code and Last4 for the
// scheme-2 verifier, Legacy for the scheme-1 one; "" when that lookup is not asked for.
type Entry struct{ Code, Last4, Legacy string }

// ParseEntry normalises a code and the phone's last four digits. A scheme-2 lookup
// needs a code of minLength to 12 digits and four phone digits; while legacyCodes is
// set, the code alone (6-8 digits) is also looked up as scheme 1, and an empty last4
// asks for that lookup only. An entry fit for neither is ErrFormat.
func ParseEntry(code, last4 string, minLength int, legacyCodes bool) (Entry, error) {
	var e Entry
	if last4 != "" || !legacyCodes {
		d, errC := privacy.NormaliseCode(code, minLength)
		p, errL := privacy.NormaliseLast4(last4)
		if errC == nil && errL == nil {
			e.Code, e.Last4 = d, p
		}
	}
	if legacyCodes {
		e.Legacy, _ = privacy.NormaliseLegacyCode(code)
	}
	if e.Code == "" && e.Legacy == "" {
		return Entry{}, ErrFormat
	}
	return e, nil
}

// Keys returns the entry's lookups, its verifiers computed through keys.
func (e Entry) Keys(keys privacy.KeyStore) ([]Key, error) {
	var out []Key
	if e.Code != "" {
		v, err := privacy.CodeDigest2(keys, e.Code, e.Last4)
		if err != nil {
			return nil, fmt.Errorf("locker: key store: %w", err)
		}
		out = append(out, Key{Code2, v})
	}
	if e.Legacy != "" {
		v, err := privacy.CodeDigest(keys, e.Legacy)
		if err != nil {
			return nil, fmt.Errorf("locker: key store: %w", err)
		}
		out = append(out, Key{Legacy, v})
	}
	return out, nil
}

// Views returns the read view of each of comps with the states of the parcels in it,
// read in t.
func Views(t Reader, comps []*model.Compartment) ([]model.CompartmentView, error) {
	out := make([]model.CompartmentView, 0, len(comps))
	for _, c := range comps {
		v := model.ViewOf(*c)
		for _, pid := range c.Parcels {
			p, err := ReadParcel(t, pid)
			if err != nil {
				return out, err
			}
			v.ParcelStates = append(v.ParcelStates, p.State)
		}
		out = append(out, v)
	}
	return out, nil
}
