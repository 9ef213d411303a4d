package audit

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func chain(t testing.TB, n int) *bolt.DB {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "a.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("audit"))
		if err != nil {
			return err
		}
		var h Head
		for i := range n {
			if h, err = Append(b, key, h, fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func verify(db *bolt.DB, k []byte) (Head, int, error) {
	var h Head
	var n int
	err := db.View(func(tx *bolt.Tx) error {
		var err error
		h, n, err = Verify(tx.Bucket([]byte("audit")), k)
		return err
	})
	return h, n, err
}

func TestChain(t *testing.T) {
	db := chain(t, 5)
	h, n, err := verify(db, key)
	if err != nil || n != 5 || h.Seq != 5 {
		t.Fatalf("%+v %d %v", h, n, err)
	}
	db.View(func(tx *bolt.Tx) error {
		last, err := Last(tx.Bucket([]byte("audit")))
		if err != nil || last != h {
			t.Fatalf("Last %+v, Verify %+v, %v", last, h, err)
		}
		var got []uint64
		Range(tx.Bucket([]byte("audit")), 2, 4, func(seq uint64, p []byte) bool { got = append(got, seq); return true })
		if fmt.Sprint(got) != "[2 3 4]" {
			t.Fatalf("range %v", got)
		}
		return nil
	})
	if _, _, err := verify(db, []byte("another key, another chain......")); !errors.Is(err, ErrBroken) {
		t.Fatalf("a chain verifies only under its key: %v", err)
	}
}

func TestTampering(t *testing.T) {
	cases := map[string]func(b *bolt.Bucket) error{
		"swap two entries": func(b *bolt.Bucket) error {
			v2, v3 := append([]byte(nil), b.Get(Key(2))...), append([]byte(nil), b.Get(Key(3))...)
			if err := b.Put(Key(2), v3); err != nil {
				return err
			}
			return b.Put(Key(3), v2)
		},
		"drop the first": func(b *bolt.Bucket) error { return b.Delete(Key(1)) },
		"truncate a MAC": func(b *bolt.Bucket) error { return b.Put(Key(4), b.Get(Key(4))[:10]) },
		"odd key":        func(b *bolt.Bucket) error { return b.Put([]byte("x"), []byte("y")) },
		"rewrite payload": func(b *bolt.Bucket) error {
			v := append([]byte(nil), b.Get(Key(5))...)
			v[len(v)-2] ^= 1
			return b.Put(Key(5), v)
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			db := chain(t, 5)
			if err := db.Update(func(tx *bolt.Tx) error { return tamper(tx.Bucket([]byte("audit"))) }); err != nil {
				t.Fatal(err)
			}
			if _, _, err := verify(db, key); !errors.Is(err, ErrBroken) {
				t.Fatalf("verify = %v", err)
			}
		})
	}
}

// FuzzVerify feeds arbitrary entries to Verify: it must refuse them without panicking,
// and a chain it accepts must be one Append could have written.
func FuzzVerify(f *testing.F) {
	f.Add(uint64(1), []byte("0123456789abcdef0123456789abcdef{}"))
	f.Fuzz(func(t *testing.T, seq uint64, value []byte) {
		db, err := bolt.Open(filepath.Join(t.TempDir(), "f.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.Update(func(tx *bolt.Tx) error {
			b, _ := tx.CreateBucket([]byte("audit"))
			return b.Put(Key(seq), value)
		})
		if _, n, err := verify(db, key); err == nil && n != 1 {
			t.Fatalf("accepted %d entries from one row", n)
		} else if err == nil {
			t.Fatalf("a random entry verified: seq %d", seq)
		}
	})
}

// TestPrune: a chain pruned from the front verifies from its sealed checkpoint; cutting
// more entries off and moving the checkpoint without the key is detected, and so is a
// checkpoint from another key.
func TestPrune(t *testing.T) {
	db := chain(t, 6)
	var cp []byte
	if err := db.Update(func(tx *bolt.Tx) error {
		start, n, err := Prune(tx.Bucket([]byte("audit")), 3)
		if err != nil || n != 3 || start.Seq != 3 {
			t.Fatalf("prune: %+v %d %v", start, n, err)
		}
		cp = Checkpoint(key, start)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	verifyFrom := func(cp []byte, k []byte) (Head, int, error) {
		var h Head
		var n int
		err := db.View(func(tx *bolt.Tx) error {
			start, err := OpenCheckpoint(k, cp)
			if err != nil {
				return err
			}
			h, n, err = VerifyFrom(tx.Bucket([]byte("audit")), k, start)
			return err
		})
		return h, n, err
	}
	if h, n, err := verifyFrom(cp, key); err != nil || n != 3 || h.Seq != 6 {
		t.Fatalf("pruned chain: %+v %d %v", h, n, err)
	}
	if _, _, err := verify(db, key); !errors.Is(err, ErrBroken) {
		t.Fatalf("a pruned chain verified from the start: %v", err)
	}
	if _, _, err := verifyFrom(cp, []byte("another key, another chain......")); !errors.Is(err, ErrBroken) {
		t.Fatalf("checkpoint under another key: %v", err)
	}
	// Without the key: delete entry 4 and point a forged checkpoint at it.
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		var forged Head
		forged.Seq = 4
		copy(forged.MAC[:], b.Get(Key(4)))
		cp = append(Key(4), forged.MAC[:]...)
		cp = append(cp, make([]byte, MACSize)...)
		return b.Delete(Key(4))
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := verifyFrom(cp, key); !errors.Is(err, ErrBroken) {
		t.Fatalf("forged checkpoint: %v", err)
	}
}
