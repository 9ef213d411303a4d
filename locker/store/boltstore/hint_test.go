package boltstore

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// openTest opens a store and its keyring in a new state directory and initialises it.
func openTest(t *testing.T) (*Store, *privacy.Keyring, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kr, err := privacy.OpenKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kr.Close() })
	path := filepath.Join(dir, "store.db")
	st, err := Open(store.Options{Path: path, AuditKey: make([]byte, 32), Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Update(func(tx store.Tx) error { _, err := tx.Init("LK-T"); return err }); err != nil {
		t.Fatal(err)
	}
	return st.(*Store), kr, path
}

func readRecord(t *testing.T, st *Store, id string) *store.Record {
	t.Helper()
	var p *store.Record
	if err := st.View(func(tx store.Tx) error {
		var err error
		p, err = tx.Parcel(id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

// A parcel's hint is stored sealed under its epoch key: the stored record does not
// hold it, the record reads it back, and once the epoch key is destroyed it is gone.
func TestHintSealedPerEpoch(t *testing.T) {
	st, kr, _ := openTest(t)
	p := sampleParcel()
	p.Hint = "…Q7ZK"
	if _, err := kr.Key(p.Epoch); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(func(tx store.Tx) error { return tx.PutParcel(nil, &p) }); err != nil {
		t.Fatal(err)
	}
	if err := st.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketParcels).Get([]byte(p.ID))
		if v == nil || bytes.Contains(v, []byte("Q7ZK")) {
			t.Fatalf("stored record %x holds the hint in clear", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := readRecord(t, st, p.ID); got.Hint != p.Hint {
		t.Fatalf("hint read back %q, want %q", got.Hint, p.Hint)
	}
	if err := kr.Destroy(p.Epoch); err != nil {
		t.Fatal(err)
	}
	if got := readRecord(t, st, p.ID); got.Hint != "" {
		t.Fatalf("hint %q readable after its epoch key was destroyed", got.Hint)
	}
}

// A sealed hint moved into another parcel's record does not open there.
func TestHintBoundToItsParcel(t *testing.T) {
	st, kr, _ := openTest(t)
	a, b := sampleParcel(), sampleParcel()
	a.Hint, b.ID, b.Hint = "…AAAA", "p-0002", "…BBBB"
	if _, err := kr.Key(a.Epoch); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(func(tx store.Tx) error {
		if err := tx.PutParcel(nil, &a); err != nil {
			return err
		}
		return tx.PutParcel(nil, &b)
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketParcels)
		var ra, rb store.Record
		ha, _, _ := decodeRecord(bk.Get([]byte(a.ID)), &ra)
		if _, _, err := decodeRecord(bk.Get([]byte(b.ID)), &rb); err != nil {
			return err
		}
		v, err := encodeRecord(&rb, ha)
		if err != nil {
			return err
		}
		return bk.Put([]byte(b.ID), v)
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.View(func(tx store.Tx) error { _, err := tx.Parcel(b.ID); return err }); err == nil {
		t.Fatal("a hint sealed for another parcel opened")
	}
}
