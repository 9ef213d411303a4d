package boltstore

import (
	"bytes"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/store"
)

// writeLegacy stores p as a schema 1 build did: a version 1 record with the hint in
// clear, and schema 1 in the meta bucket.
func writeLegacy(t *testing.T, st *Store, p store.Record) {
	t.Helper()
	if err := st.db.Update(func(tx *bolt.Tx) error {
		v, err := encodeRecord(&p, []byte(p.Hint))
		if err != nil {
			return err
		}
		v[0] = recordVersionLegacy
		if err := tx.Bucket(bucketParcels).Put([]byte(p.ID), v); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaSchema, []byte{1})
	}); err != nil {
		t.Fatal(err)
	}
}

// A store of schema 1 migrates in Init's transaction: every clear hint is sealed, the
// schema moves on, and the parcels read as before.
func TestMigrateSchema1(t *testing.T) {
	st, kr, _ := openTest(t)
	p := sampleParcel()
	p.Hint = "…Q7ZK"
	if _, err := kr.Key(p.Epoch); err != nil {
		t.Fatal(err)
	}
	writeLegacy(t, st, p)
	if err := st.db.Update(func(tx *bolt.Tx) error { // a courier as schema 1 and 2 kept it
		b, err := tx.CreateBucketIfNotExists(bucketCouriers)
		if err != nil {
			return err
		}
		return b.Put(bytes.Repeat([]byte{7}, 32), []byte(`{"id":"c-1","credential":"0707","rights":{"deposit":true}}`))
	}); err != nil {
		t.Fatal(err)
	}
	if got := readRecord(t, st, p.ID); got.Hint != p.Hint {
		t.Fatalf("legacy record's hint %q, want %q", got.Hint, p.Hint)
	}
	var m store.Migration
	if err := st.Update(func(tx store.Tx) error {
		var err error
		m, err = tx.Init("LK-T")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if m.From != 1 || m.Hints != 1 || m.Couriers != 1 {
		t.Fatalf("migration %+v, want from 1 with one hint sealed and one courier dropped", m)
	}
	if err := st.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketParcels).Get([]byte(p.ID))
		if v[0] != recordVersion || bytes.Contains(v, []byte("Q7ZK")) {
			t.Fatalf("migrated record %x: version %d or clear hint", v, v[0])
		}
		if tx.Bucket(bucketCouriers) != nil {
			t.Fatal("the unsealed couriers bucket survived the migration")
		}
		if s := tx.Bucket(bucketMeta).Get(metaSchema); len(s) != 1 || s[0] != schemaVersion {
			t.Fatalf("schema after migration %v", s)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := readRecord(t, st, p.ID); got.Hint != p.Hint || got.Waybill != p.Waybill {
		t.Fatalf("migrated record %+v", got)
	}
	// A second start finds nothing to do.
	if err := st.Update(func(tx store.Tx) error {
		var err error
		m, err = tx.Init("LK-T")
		return err
	}); err != nil || m != (store.Migration{}) {
		t.Fatalf("second Init: %+v %v", m, err)
	}
}

// A schema newer than this build's is refused, never rewritten.
func TestInitRefusesNewerSchema(t *testing.T) {
	st, _, _ := openTest(t)
	if err := st.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaSchema, []byte{schemaVersion + 1})
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(func(tx store.Tx) error { _, err := tx.Init("LK-T"); return err }); err == nil {
		t.Fatal("opened a store of a newer schema")
	}
}
