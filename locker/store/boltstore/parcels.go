package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/audit"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// indexEntry is one row that a parcel record implies in an index bucket.
type indexEntry struct {
	bucket []byte
	key    []byte
	value  []byte
}

// indexes lists the index rows that p implies. Keeping indexes derived from the record
// (rather than maintained by each flow) means a transition cannot forget one.
func indexes(p *store.Record) []indexEntry {
	if p == nil {
		return nil
	}
	out := []indexEntry{{bucketIdxWaybill, append([]byte(nil), p.Waybill[:]...), []byte(p.ID)}}
	if p.State == stateAnnounced || p.State == stateDeposited {
		// One index for every kind of verifier: they are HMACs under different keys,
		// and the station checks which field of the record matched.
		for _, v := range []privacy.Digest{p.Verifier, p.CodeVerifier, p.QRVerifier} {
			if !v.IsZero() {
				out = append(out, indexEntry{bucketIdxCode, codeKey(v, p.ID), nil})
			}
		}
	}
	switch {
	case p.State == stateDeposited && !p.ExpiresAt.IsZero():
		out = append(out, indexEntry{bucketIdxExpiry, timeKey(p.ExpiresAt, p.ID), nil})
	case p.State == stateAnnounced && !p.KeepUntil.IsZero() && p.Compartment == 0:
		// Not while a deposit is under way (its door decides): the row comes back if
		// the deposit is undone.
		out = append(out, indexEntry{bucketIdxKeep, timeKey(p.KeepUntil, p.ID), nil})
	case terminal(p.State) && !p.PurgeAt.IsZero():
		out = append(out, indexEntry{bucketIdxPurge, timeKey(p.PurgeAt, p.ID), nil})
	}
	return out
}

// Parcel reads the record of parcel id.
func (t *Tx) Parcel(id string) (*store.Record, error) {
	v := t.tx.Bucket(bucketParcels).Get([]byte(id))
	if v == nil {
		return nil, store.ErrUnknownParcel
	}
	p := new(store.Record)
	hint, version, err := decodeRecord(v, p)
	if err == nil {
		err = t.s.openHint(p, hint, version)
	}
	if err == nil {
		err = t.s.openCourier(p)
	}
	if err != nil {
		return nil, fmt.Errorf("locker: parcel record %q: %w", id, err)
	}
	return p, nil
}

// Parcels passes every parcel record to fn, in id order; fn must not write.
func (t *Tx) Parcels(fn func(p *store.Record) error) error {
	return t.tx.Bucket(bucketParcels).ForEach(func(k, _ []byte) error {
		p, err := t.Parcel(string(k))
		if err != nil {
			return err
		}
		return fn(p)
	})
}

// PutParcel stores p (nil deletes) replacing old (nil when new), and moves its index
// rows and its epoch's reference count along.
func (t *Tx) PutParcel(old, p *store.Record) error {
	next := map[string]bool{}
	for _, e := range indexes(p) {
		next[string(e.bucket)+"\x00"+string(e.key)] = true
	}
	for _, e := range indexes(old) {
		if !next[string(e.bucket)+"\x00"+string(e.key)] {
			if err := t.tx.Bucket(e.bucket).Delete(e.key); err != nil {
				return err
			}
		}
	}
	// A store written before deposits under way lost their keep-until row may hold
	// one that old.indexes no longer names: it goes too.
	if old != nil && old.State == stateAnnounced && !old.KeepUntil.IsZero() && old.Compartment != 0 {
		if k := timeKey(old.KeepUntil, old.ID); !next[string(bucketIdxKeep)+"\x00"+string(k)] {
			if err := t.tx.Bucket(bucketIdxKeep).Delete(k); err != nil {
				return err
			}
		}
	}
	for _, e := range indexes(p) {
		if err := t.tx.Bucket(e.bucket).Put(e.key, e.value); err != nil {
			return err
		}
	}
	switch {
	case old == nil && p != nil:
		t.epochRef(p.Epoch, +1)
	case old != nil && p == nil:
		t.epochRef(old.Epoch, -1)
		return t.tx.Bucket(bucketParcels).Delete([]byte(old.ID))
	}
	stored := *p
	stored.Courier = t.s.sealCourier(p)
	b, err := encodeRecord(&stored, t.s.sealHint(p))
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucketParcels).Put([]byte(p.ID), b)
}

// epochRef counts a parcel record in or out of epoch e. The changes of a transition are
// summed and written once (putEpochs): a run of announcements touches the counter once,
// not once a parcel.
func (t *Tx) epochRef(e uint32, delta int64) {
	if t.epochs == nil {
		t.epochs = map[uint32]int64{}
	}
	t.epochs[e] += delta
}

func (t *Tx) putEpochs() error {
	b := t.tx.Bucket(bucketEpochs)
	for e, delta := range t.epochs {
		if delta == 0 {
			continue
		}
		var n int64
		if v := b.Get(epochKey(e)); len(v) == 8 {
			n = int64(binary.BigEndian.Uint64(v))
		}
		n += delta
		if n < 0 {
			return fmt.Errorf("locker: epoch %d reference count below zero", e)
		}
		if err := b.Put(epochKey(e), binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
			return err
		}
	}
	return nil
}

// ByWaybill returns the id of the parcel filed under sealed waybill digest w.
func (t *Tx) ByWaybill(w privacy.Digest) (string, bool) {
	id := t.tx.Bucket(bucketIdxWaybill).Get(w[:])
	return string(id), id != nil
}

// ByCode returns the ids of the parcels filed under sealed verifier v.
func (t *Tx) ByCode(v privacy.Digest) []string {
	var ids []string
	c := t.tx.Bucket(bucketIdxCode).Cursor()
	for k, _ := c.Seek(v[:]); k != nil && bytes.HasPrefix(k, v[:]); k, _ = c.Next() {
		ids = append(ids, string(k[len(v):]))
	}
	return ids
}

var timerBuckets = [...][]byte{store.TimerExpiry: bucketIdxExpiry, store.TimerKeep: bucketIdxKeep, store.TimerPurge: bucketIdxPurge}

// Due returns up to max rows of timer's index whose time is at or before now.
func (s *Store) Due(timer store.Timer, now time.Time, max int) ([]store.Due, error) {
	var rows []store.Due
	limit := binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(timerBuckets[timer]).Cursor()
		for k, _ := c.First(); k != nil && len(rows) < max; k, _ = c.Next() {
			if len(k) < 8 || bytes.Compare(k[:8], limit) > 0 {
				break
			}
			k = bytes.Clone(k)
			rows = append(rows, store.Due{Parcel: string(k[8:]), Key: k})
		}
		return nil
	})
	return rows, err
}

// DeleteDue removes row d from timer's index: a leftover, or one naming a record that
// is gone.
func (t *Tx) DeleteDue(timer store.Timer, d store.Due) error {
	return t.tx.Bucket(timerBuckets[timer]).Delete(d.Key)
}

// CountStates counts the parcel records by state, reading only the state byte of each:
// status is asked for often, and decoding 100,000 records for a count would show.
func (t *Tx) CountStates() (map[string]int, error) {
	byCode := map[byte]string{}
	for s, c := range stateCodes {
		byCode[c] = s
	}
	out := map[string]int{}
	err := t.tx.Bucket(bucketParcels).ForEach(func(k, v []byte) error {
		if len(v) < 3 || (v[0] != recordVersion && v[0] != recordVersionLegacy) || byCode[v[2]] == "" {
			return fmt.Errorf("locker: parcel record %q: %w", k, errRecord)
		}
		out[byCode[v[2]]]++
		return nil
	})
	return out, err
}

// CountLegacy counts the announced or deposited records holding a scheme-1 verifier,
// reading only the flags and state bytes of each.
func (t *Tx) CountLegacy() (int, error) {
	n := 0
	err := t.tx.Bucket(bucketParcels).ForEach(func(k, v []byte) error {
		if len(v) < 3 || v[0] != recordVersion {
			return fmt.Errorf("locker: parcel record %q: %w", k, errRecord)
		}
		if v[1]&flagVerifier != 0 && (v[2] == stateCodes[stateAnnounced] || v[2] == stateCodes[stateDeposited]) {
			n++
		}
		return nil
	})
	return n, err
}

// UnusedEpochs returns those of epochs that no parcel record and no outbox entry is
// sealed under: their keys can be destroyed.
func (s *Store) UnusedEpochs(epochs []uint32) ([]uint32, error) {
	var dead []uint32
	err := s.db.View(func(tx *bolt.Tx) error {
		inOutbox := map[uint32]bool{} // undelivered events' sealed forms
		audit.RangeTrailers(tx.Bucket(bucketAudit), outboxAcked(tx)+1, ^uint64(0), func(_ uint64, _, trailer []byte) bool {
			if len(trailer) >= 4 {
				inOutbox[binary.BigEndian.Uint32(trailer)] = true
			}
			return true
		})
		b := tx.Bucket(bucketEpochs)
		for _, e := range epochs {
			if inOutbox[e] {
				continue
			}
			v := b.Get(epochKey(e))
			if v == nil || binary.BigEndian.Uint64(v) == 0 {
				dead = append(dead, e)
			}
		}
		return nil
	})
	return dead, err
}

// ForgetEpochs drops the reference counts of destroyed epochs, in one commit.
func (s *Store) ForgetEpochs(dead []uint32) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEpochs)
		for _, e := range dead {
			if err := b.Delete(epochKey(e)); err != nil {
				return err
			}
		}
		return nil
	})
}
