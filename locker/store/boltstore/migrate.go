package boltstore

import (
	"fmt"

	"github.com/lockerd/lockerd/locker/store"
)

// migrate brings a store of schema from up to schemaVersion, inside Init's transaction:
// the first start of a new build either migrates everything or, failing, nothing.
//
//   - 1 -> 2: parcel records (version 1) held their hint in clear; each is rewritten
//     as version 2 with the hint sealed under its epoch key (a record whose epoch key
//     is gone loses its hint).
//   - 2 -> 3: courier records were filed unsealed under the digest of badge and PIN.
//     The new form is found by the badge digest, which cannot be computed from them:
//     the bucket is dropped, and the cloud sends its couriers again
//     (docs/adr/0049-nothing-linkable-at-rest.md).
func (t *Tx) migrate(from int) (store.Migration, error) {
	m := store.Migration{From: from}
	if from >= schemaVersion {
		return store.Migration{}, nil
	}
	if from < 2 {
		n, err := t.sealLegacyHints()
		if err != nil {
			return m, fmt.Errorf("locker: store migration (hints): %w", err)
		}
		m.Hints = n
	}
	if from < 3 {
		n, err := t.dropLegacyCouriers()
		if err != nil {
			return m, fmt.Errorf("locker: store migration (couriers): %w", err)
		}
		m.Couriers = n
	}
	return m, t.tx.Bucket(bucketMeta).Put(metaSchema, []byte{schemaVersion})
}

// sealLegacyHints rewrites every version 1 parcel record as version 2; it returns
// how many had a hint.
func (t *Tx) sealLegacyHints() (int, error) {
	b := t.tx.Bucket(bucketParcels)
	type rewrite struct{ key, value []byte }
	var out []rewrite
	hints := 0
	err := b.ForEach(func(k, v []byte) error {
		var p store.Record
		hint, version, err := decodeRecord(v, &p)
		if err != nil {
			return fmt.Errorf("parcel record %q: %w", k, err)
		}
		if version != recordVersionLegacy {
			return nil
		}
		if err := t.s.openHint(&p, hint, version); err != nil {
			return err
		}
		if p.Hint != "" {
			hints++
		}
		nv, err := encodeRecord(&p, t.s.sealHint(&p))
		if err != nil {
			return err
		}
		out = append(out, rewrite{append([]byte(nil), k...), nv})
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, r := range out { // bbolt forbids writes while ForEach walks the bucket
		if err := b.Put(r.key, r.value); err != nil {
			return 0, err
		}
	}
	return hints, nil
}

// dropLegacyCouriers deletes the bucket of unsealed courier records; it returns how
// many it held.
func (t *Tx) dropLegacyCouriers() (int, error) {
	b := t.tx.Bucket(bucketCouriers)
	if b == nil {
		return 0, nil
	}
	n := b.Stats().KeyN
	return n, t.tx.DeleteBucket(bucketCouriers)
}
