package boltstore

import (
	"bytes"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/store"
)

// TestGrowsPastInitialMapping: Open maps 64 MiB up front (InitialMmapSize), which on a
// 32-bit board is address space in a process that has 2-3 GiB of it, and bbolt caps
// a 32-bit mapping at 2 GiB. A store that outgrows the first mapping is remapped
// while open and opens again, its data intact: run by make test-arm on linux/arm,
// GOARM=6, under qemu-user, as on a Pi Zero.
func TestGrowsPastInitialMapping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "station.db")
	s, err := Open(store.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	st := s.(*Store)
	const initial = 64 << 20
	chunk := bytes.Repeat([]byte{0xa5}, 1<<20)
	bucket := []byte("arch32-test")
	// 72 MiB in 1 MiB values, a few per transaction, as a store grows.
	for i := 0; i < 72; i += 8 {
		if err := st.db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucket)
			if err != nil {
				return err
			}
			for j := i; j < i+8; j++ {
				chunk[0] = byte(j)
				if err := b.Put([]byte{byte(j)}, chunk); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("growing past %d MiB: %v", i, err)
		}
	}
	size := fileSize(t, st.db)
	if size <= initial {
		t.Fatalf("the store grew to %d bytes, not past the first mapping's %d", size, initial)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(store.Options{Path: path})
	if err != nil {
		t.Fatalf("reopening a %d-byte store: %v", size, err)
	}
	defer s.Close()
	if err := s.(*Store).db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get([]byte{71})
		if len(v) != 1<<20 || v[0] != 71 || v[len(v)-1] != 0xa5 {
			t.Fatalf("the last value read back as %d bytes starting %#x", len(v), v[:1])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, db *bolt.DB) int64 {
	var size int64
	if err := db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	return size
}
