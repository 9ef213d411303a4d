package boltstore

import (
	"fmt"

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
