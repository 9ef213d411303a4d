package audit

import (
	"bytes"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestTrailers: an entry's trailer is stored beside its payload and outside the chain.
// Every reader sees the payload alone, the chain verifies with and without trailers,
// StripTrailers drops exactly the trailers of its range, and a payload that starts
// with the framing byte is not mistaken for a framed entry.
func TestTrailers(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "a.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	entries := []struct{ payload, trailer []byte }{
		{[]byte(`{"n":1}`), nil},
		{[]byte(`{"n":2}`), []byte("sealed-2")},
		{[]byte{framed, 'x'}, nil},
		{[]byte{}, []byte("sealed-4")},
		{[]byte(`{"n":5}`), []byte("sealed-5")},
	}
	check := func(wantTrailers map[uint64]string) {
		t.Helper()
		if err := db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("audit"))
			if _, n, err := Verify(b, key); err != nil || n != len(entries) {
				t.Fatalf("verify: %d %v", n, err)
			}
			got := map[uint64]string{}
			RangeTrailers(b, 0, 100, func(seq uint64, payload, trailer []byte) bool {
				if !bytes.Equal(payload, entries[seq-1].payload) {
					t.Errorf("entry %d: payload %q, want %q", seq, payload, entries[seq-1].payload)
				}
				if len(trailer) > 0 {
					got[seq] = string(trailer)
				}
				return true
			})
			Backward(b, func(seq uint64, payload []byte) bool {
				if !bytes.Equal(payload, entries[seq-1].payload) {
					t.Errorf("entry %d read backward: payload %q", seq, payload)
				}
				return true
			})
			if len(got) != len(wantTrailers) {
				t.Fatalf("trailers %v, want %v", got, wantTrailers)
			}
			for seq, w := range wantTrailers {
				if got[seq] != w {
					t.Fatalf("trailers %v, want %v", got, wantTrailers)
				}
				if _, tr, found, err := Trailer(b, seq); err != nil || !found || string(tr) != w {
					t.Fatalf("Trailer(%d): %q %v %v", seq, tr, found, err)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("audit"))
		if err != nil {
			return err
		}
		var h Head
		for _, e := range entries {
			if h, err = AppendTrailer(b, key, h, e.payload, e.trailer); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check(map[uint64]string{2: "sealed-2", 4: "sealed-4", 5: "sealed-5"})
	if err := db.Update(func(tx *bolt.Tx) error {
		n, err := StripTrailers(tx.Bucket([]byte("audit")), 1, 4)
		if n != 2 {
			t.Errorf("stripped %d entries, want 2", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	check(map[uint64]string{5: "sealed-5"})
	if err := db.Update(func(tx *bolt.Tx) error {
		ok, err := SetTrailer(tx.Bucket([]byte("audit")), 3, []byte("set-3"))
		if !ok {
			t.Error("SetTrailer found no entry 3")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	check(map[uint64]string{3: "set-3", 5: "sealed-5"})
}

// FuzzSplit parses arbitrary stored entries: a malformed one is refused, and one that
// parses is stored again, byte for byte, from its parts.
func FuzzSplit(f *testing.F) {
	var m [MACSize]byte
	f.Add(encode(m, []byte(`{"a":1}`), nil))
	f.Add(encode(m, []byte(`{"a":1}`), []byte("trailer")))
	f.Add(encode(m, []byte{framed}, nil))
	f.Add(append(m[:], framed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))
	f.Add(append(m[:], framed, 5, 'a'))
	f.Add(m[:MACSize-1])
	f.Fuzz(func(t *testing.T, v []byte) {
		mac, payload, trailer, ok := split(v)
		if !ok {
			if len(v) >= MACSize && (len(v) == MACSize || v[MACSize] != framed) {
				t.Fatalf("a plain entry %x refused", v)
			}
			return
		}
		if len(payload)+len(trailer) > len(v) {
			t.Fatalf("parts longer than the entry")
		}
		again := encode([MACSize]byte(mac), payload, trailer)
		p2, t2 := payload, trailer
		if _, p3, t3, ok := split(again); !ok || !bytes.Equal(p3, p2) || !bytes.Equal(t3, t2) {
			t.Fatalf("%x: re-encoded %x parses to %q %q, want %q %q", v, again, p3, t3, p2, t2)
		}
	})
}
