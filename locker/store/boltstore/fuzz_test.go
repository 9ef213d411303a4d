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
