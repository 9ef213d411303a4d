package boltstore

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// Fuzz targets for the store's own decoders. The store is on the device's flash,
// which a power cut, a worn card or a person with the card in hand can leave in any
// state: its decoders must refuse what the station never wrote rather than act on it.

// FuzzDecodeCommandEntry decodes arbitrary command log values. An accepted value is
// one BeginCommand, FinishCommand or PutCommand can have written (exp || in progress, or exp ||
// done || reply; an empty reply reads as in progress): it re-encodes to exactly its
// bytes, and the reply is a copy, not a view into the store's page.
func FuzzDecodeCommandEntry(f *testing.F) {
	exp := binary.BigEndian.AppendUint64(nil, uint64(testStart.UnixNano()))
	f.Add(append(bytes.Clone(exp), cmdInProgress))
	f.Add(append(append(bytes.Clone(exp), cmdDone), `{"status":"done"}`...))
	f.Add(append(bytes.Clone(exp), cmdDone))
	f.Add(append(bytes.Clone(exp), 0))
	f.Add(append(append(bytes.Clone(exp), 7), "x"...))
	f.Add(append(append(bytes.Clone(exp), cmdInProgress), "left over"...))
	f.Add(exp)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		stored := bytes.Clone(v)
		reply, done, err := decodeCommandEntry(v)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "locker: ") || reply != nil || done {
				t.Fatalf("decodeCommandEntry(%x) = %q, %v, %v", v, reply, done, err)
			}
			return
		}
		again := append(bytes.Clone(v[:8]), cmdInProgress)
		if done {
			again = append(append(bytes.Clone(v[:8]), cmdDone), reply...)
			if len(reply) == 0 {
				t.Fatalf("decodeCommandEntry(%x): done with an empty reply, which reads as in progress", v)
			}
		} else if len(v) == 9 && v[8] == cmdDone {
			again[8] = cmdDone // an empty final reply of an older build: outcome unknown
		}
		if !bytes.Equal(again, v) {
			t.Fatalf("decodeCommandEntry(%x) = %q, done %v: that encodes as %x", v, reply, done, again)
		}
		for i := range reply {
			reply[i] ^= 0xff
		}
		if !bytes.Equal(v, stored) {
			t.Fatal("the decoded reply shares memory with the stored value")
		}
	})
}

// FuzzDecodeCourier decodes arbitrary courier rows. An accepted row is one PutCourier
// can have written: it re-encodes to exactly its value, and the sealed content is a
// copy, not a view into the store's page.
func FuzzDecodeCourier(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	f.Add(key, append([]byte{0, 0, 0x0b, 0x99, 0x80, 0, 0, 1}, "sealed content"...))
	f.Add(key, []byte{0, 0, 0, 1, 0x80, 0, 0, 1})
	f.Add(key[:31], []byte{0, 0, 0, 1, 0x80, 0, 0, 1, 9})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		stored := bytes.Clone(v)
		c, err := decodeCourier(k, v)
		if err != nil {
			if c != nil || !strings.HasPrefix(err.Error(), "locker: ") {
				t.Fatalf("decodeCourier(%x, %x) = %+v, %v", k, v, c, err)
			}
			return
		}
		if !bytes.Equal(c.Key[:], k) || !bytes.Equal(encodeCourier(c), v) || len(c.Sealed) == 0 {
			t.Fatalf("decodeCourier(%x, %x) = %+v: does not encode back", k, v, c)
		}
		for i := range c.Sealed {
			c.Sealed[i] ^= 0xff
		}
		if !bytes.Equal(v, stored) {
			t.Fatal("the decoded content shares memory with the stored value")
		}
	})
}

// FuzzDecodeRevision: a revisions value decodes only at its one size, and what decodes
// encodes back to the same bytes without sharing memory with them.
func FuzzDecodeRevision(f *testing.F) {
	until := binary.BigEndian.AppendUint64(nil, uint64(testStart.UnixNano()))
	f.Add(encodeRevision(1700000000, until))
	f.Add(encodeRevision(-1, until))
	f.Add(until)
	f.Add([]byte{})
	f.Add(append(encodeRevision(1, until), 0))
	f.Fuzz(func(t *testing.T, v []byte) {
		stored := bytes.Clone(v)
		rev, u, err := decodeRevision(v)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "locker: ") || rev != 0 || u != nil || len(v) == 16 {
				t.Fatalf("decodeRevision(%x) = %d, %x, %v", v, rev, u, err)
			}
			return
		}
		if !bytes.Equal(encodeRevision(rev, u), v) {
			t.Fatalf("decodeRevision(%x) = %d, %x: does not encode back", v, rev, u)
		}
		for i := range u {
			u[i] ^= 0xff
		}
		if !bytes.Equal(v, stored) {
			t.Fatal("the decoded keep-until shares memory with the stored value")
		}
	})
}
