package boltstore

import (
	"fmt"
	"strings"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// A parcel's hint (the last characters of its tracking number, which staff at a counter
// and the panel show) is stored sealed under the parcel's epoch key, like its digests:
// in clear, four characters cut an S10 number to 10^8 candidates for anyone holding the
// keys (docs/adr/0049-nothing-linkable-at-rest.md). Sealing happens here, in the
// record's encoding, so that the domain reads and writes plain hints.

// hintAD binds a sealed hint to its parcel: a sealed hint copied into another record
// does not open there.
func hintAD(id string) []byte { return []byte("lockerd/hint/v1/" + id) }

// sealHint returns p's hint sealed under its epoch key, or nil when p has no hint or
// its epoch key is gone (the hint was shredded with it). It never creates a key: the
// domain sealed the parcel's digests under the same epoch first.
func (s *Store) sealHint(p *store.Record) []byte {
	if p.Hint == "" {
		return nil
	}
	key, ok := s.keyring.Lookup(p.Epoch)
	if !ok {
		return nil
	}
	return privacy.SealBytes(key, []byte(p.Hint), hintAD(p.ID))
}

// openHint sets p.Hint from the stored hint field of a record of the given version:
// in clear in a legacy record, sealed in a current one. A hint whose epoch key is gone
// reads as none; one that does not open under a key that exists is a damaged record.
func (s *Store) openHint(p *store.Record, hint []byte, version byte) error {
	switch {
	case len(hint) == 0:
		return nil
	case version == recordVersionLegacy:
		p.Hint = string(hint)
		return nil
	}
	key, ok := s.keyring.Lookup(p.Epoch)
	if !ok {
		return nil
	}
	plain, err := privacy.OpenBytes(key, hint, hintAD(p.ID))
	if err != nil {
		return fmt.Errorf("hint: %w", err)
	}
	p.Hint = string(plain)
	return nil
}

// A parcel's depositing courier is an id that names a person: it is sealed like the
// hint, under the parcel's epoch key (docs/adr/0065-audit-actors-as-pseudonyms.md). The
// record's courier field holds 0x00 || SealBytes(epoch key, id, "lockerd/depositor/v1/"
// + parcel id), or, in a record written before, the id in clear (an id never starts
// with 0x00: protocol ids are printable).
const sealedCourier = "\x00"

func courierAD(id string) []byte { return []byte("lockerd/depositor/v1/" + id) }

// sealCourier returns p's courier field as stored: sealed, or "" when p has none or its
// epoch key is gone (the depositor is shredded with the parcel's digests).
func (s *Store) sealCourier(p *store.Record) string {
	if p.Courier == "" {
		return ""
	}
	key, ok := s.keyring.Lookup(p.Epoch)
	if !ok {
		return ""
	}
	return sealedCourier + string(privacy.SealBytes(key, []byte(p.Courier), courierAD(p.ID)))
}

// openCourier sets p.Courier from its stored field: opened when sealed ("" when its
// epoch key is gone), as it is when in clear. One that does not open under a key that
// exists is a damaged record.
func (s *Store) openCourier(p *store.Record) error {
	if !strings.HasPrefix(p.Courier, sealedCourier) {
		return nil
	}
	key, ok := s.keyring.Lookup(p.Epoch)
	if !ok {
		p.Courier = ""
		return nil
	}
	plain, err := privacy.OpenBytes(key, []byte(p.Courier[len(sealedCourier):]), courierAD(p.ID))
	if err != nil {
		return fmt.Errorf("courier: %w", err)
	}
	p.Courier = string(plain)
	return nil
}
