package audit

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestPayloadSizeEdges: an entry with an empty payload (exactly MACSize bytes stored)
// is a well-formed entry for every reader, and a payload longer than the MAC is
// stored whole. Mutation testing (docs/testing.md) found both edges unguarded.
func TestPayloadSizeEdges(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "a.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	long := bytes.Repeat([]byte("x"), 4*MACSize)
	payloads := [][]byte{{}, long, {}}
	var heads []Head
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("audit"))
		if err != nil {
			return err
		}
		var h Head
		for _, p := range payloads {
			if h, err = Append(b, key, h, p); err != nil {
				return err
			}
			heads = append(heads, h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		if h, n, err := Verify(b, key); err != nil || n != 3 || h != heads[2] {
			t.Fatalf("Verify = %+v, %d, %v; want %+v, 3", h, n, err, heads[2])
		}
		if h, err := Last(b); err != nil || h != heads[2] {
			t.Fatalf("Last = %+v, %v; want %+v", h, err, heads[2])
		}
		var back, ranged [][]byte
		Backward(b, func(_ uint64, p []byte) bool { back = append(back, bytes.Clone(p)); return true })
		Range(b, 1, 3, func(_ uint64, p []byte) bool { ranged = append(ranged, bytes.Clone(p)); return true })
		slices.Reverse(back)
		if !slices.EqualFunc(back, payloads, bytes.Equal) || !slices.EqualFunc(ranged, payloads, bytes.Equal) {
			t.Fatalf("Backward read %q, Range %q; want %q", back, ranged, payloads)
		}
		start, n, err := Prune(b, 1)
		if err != nil || n != 1 || start != heads[0] {
			t.Fatalf("Prune = %+v, %d, %v; want %+v, 1", start, n, err, heads[0])
		}
		if h, n, err := VerifyFrom(b, key, start); err != nil || n != 2 || h != heads[2] {
			t.Fatalf("VerifyFrom = %+v, %d, %v", h, n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
