package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/lockerd/lockerd/locker/audit"
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
//   - 3 -> 4: the outbox was a bucket of its own; it is folded into the audit log
//     (docs/adr/0060-outbox-in-the-audit-log.md): each outbox entry's sealed value
//     becomes its audit entry's trailer, the delivered mark goes just before the first
//     of them, and the bucket is dropped.
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
	if from < 4 {
		n, lost, err := t.foldOutbox()
		if err != nil {
			return m, fmt.Errorf("locker: store migration (outbox): %w", err)
		}
		m.Outbox, m.OutboxLost = n, lost
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

// foldOutbox moves the outbox bucket's entries into the audit log as trailers and sets
// the delivered mark before the first; it returns how many moved and how many were
// lost because their audit entry is gone (pruned during an outage of a year).
//
// Undelivered events were a suffix of the log (the link acknowledges in order): the
// mark before the first makes the same events pending. An event acknowledged out of
// order inside that suffix (only a test does that) is sent again, in its audit form.
func (t *Tx) foldOutbox() (moved, lost int, err error) {
	ob := t.tx.Bucket(bucketOutbox)
	if ob == nil {
		return 0, 0, nil
	}
	ab := t.tx.Bucket(bucketAudit)
	last, err := audit.Last(ab)
	if err != nil {
		return 0, 0, err
	}
	if last.Seq == 0 {
		last, _ = auditStart(t.tx, t.s.auditKey)
	}
	type entry struct {
		seq   uint64
		value []byte
	}
	var entries []entry
	if err := ob.ForEach(func(k, v []byte) error {
		if len(k) == 8 {
			entries = append(entries, entry{binary.BigEndian.Uint64(k), bytes.Clone(v)})
		}
		return nil
	}); err != nil {
		return 0, 0, err
	}
	delivered := last.Seq
	for _, e := range entries {
		ok, err := audit.SetTrailer(ab, e.seq, e.value)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			lost++
			continue
		}
		if moved == 0 {
			delivered = e.seq - 1
		}
		moved++
	}
	if err := t.tx.Bucket(bucketMeta).Put(metaOutboxAcked, binary.BigEndian.AppendUint64(nil, delivered)); err != nil {
		return 0, 0, err
	}
	return moved, lost, t.tx.DeleteBucket(bucketOutbox)
}
