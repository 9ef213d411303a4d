// Package audit keeps the station's append-only audit log: a chain of entries in a bbolt
// bucket, each sealed with an HMAC over the previous entry's MAC, its sequence number and
// its payload. Removing, reordering or editing any entry breaks every MAC after it, and
// without the audit key (derived from the secret the locker shares with its fleet) a
// forger cannot rebuild the chain. Payloads hold opaque ids only.
//
// Entries are written inside the caller's bbolt transaction, so an entry exists exactly
// when the state change it records was committed.
package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// MACSize is the size of an entry's MAC, stored before its payload.
const MACSize = sha256.Size

// ErrBroken is returned by Verify when the chain does not verify.
var ErrBroken = errors.New("audit: chain broken")

// Head is the position of the last entry: the next entry chains to it.
type Head struct {
	Seq uint64
	MAC [MACSize]byte
}

// Key returns the bbolt key of entry seq: big-endian, so that keys sort by sequence.
func Key(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

func mac(key []byte, prev [MACSize]byte, seq uint64, payload []byte) [MACSize]byte {
	m := hmac.New(sha256.New, key)
	m.Write(prev[:])
	m.Write(Key(seq))
	m.Write(payload)
	var out [MACSize]byte
	m.Sum(out[:0])
	return out
}

// Append writes payload as the entry after h and returns the new head. The caller keeps
// the returned head only if its transaction commits.
func Append(b *bolt.Bucket, key []byte, h Head, payload []byte) (Head, error) {
	next := Head{Seq: h.Seq + 1}
	next.MAC = mac(key, h.MAC, next.Seq, payload)
	v := make([]byte, 0, MACSize+len(payload))
	v = append(v, next.MAC[:]...)
	v = append(v, payload...)
	// Keys only ever grow: fill pages completely instead of splitting them in half,
	// which halves the pages (and the branch entries) every later append rewrites.
	b.FillPercent = 1.0
	if err := b.Put(Key(next.Seq), v); err != nil {
		return h, fmt.Errorf("audit: append %d: %w", next.Seq, err)
	}
	return next, nil
}

// Last returns the head of the chain in b (the zero Head when it is empty) without
// verifying it.
func Last(b *bolt.Bucket) (Head, error) {
	k, v := b.Cursor().Last()
	if k == nil {
		return Head{}, nil
	}
	if len(k) != 8 || len(v) < MACSize {
		return Head{}, fmt.Errorf("%w: malformed last entry", ErrBroken)
	}
	var h Head
	h.Seq = binary.BigEndian.Uint64(k)
	copy(h.MAC[:], v)
	return h, nil
}

// Verify walks the whole chain and checks every MAC and that sequence numbers run
// without gaps from 1. It returns the head and the number of entries.
func Verify(b *bolt.Bucket, key []byte) (Head, int, error) { return VerifyFrom(b, key, Head{}) }

// VerifyFrom is Verify for a chain whose entries up to start were pruned: the first
// entry must follow start (see Prune and Checkpoint).
func VerifyFrom(b *bolt.Bucket, key []byte, start Head) (Head, int, error) {
	h := start
	n := 0
	err := b.ForEach(func(k, v []byte) error {
		if len(k) != 8 || len(v) < MACSize {
			return fmt.Errorf("%w: malformed entry after %d", ErrBroken, h.Seq)
		}
		seq := binary.BigEndian.Uint64(k)
		if seq != h.Seq+1 {
			return fmt.Errorf("%w: entry %d follows %d", ErrBroken, seq, h.Seq)
		}
		want := mac(key, h.MAC, seq, v[MACSize:])
		if !hmac.Equal(want[:], v[:MACSize]) {
			return fmt.Errorf("%w: entry %d does not match its MAC", ErrBroken, seq)
		}
		h.Seq, h.MAC = seq, want
		n++
		return nil
	})
	return h, n, err
}

// Prune deletes the entries up to seq upTo (inclusive) from the front of the chain and
// returns the head of the last one deleted (the chain's new start, for VerifyFrom) and
// how many were deleted. The caller keeps that head, sealed with Checkpoint, in the
// same transaction.
func Prune(b *bolt.Bucket, upTo uint64) (Head, int, error) {
	var last Head
	n := 0
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		if len(k) == 8 && binary.BigEndian.Uint64(k) > upTo {
			break
		}
		if len(k) == 8 && len(v) >= MACSize { // a malformed entry goes too, but names no start
			last.Seq = binary.BigEndian.Uint64(k)
			copy(last.MAC[:], v)
		}
		if err := c.Delete(); err != nil {
			return last, n, fmt.Errorf("audit: prune: %w", err)
		}
		n++
	}
	return last, n, nil
}

// checkpointLabel separates a checkpoint's MAC from the entries'.
const checkpointLabel = "lockerd audit checkpoint v1"

// Checkpoint seals the start of a pruned chain with the audit key, so that nobody
// without the key can cut more entries off its front and move the start.
func Checkpoint(key []byte, start Head) []byte {
	out := append(Key(start.Seq), start.MAC[:]...)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(checkpointLabel))
	m.Write(out)
	return m.Sum(out)
}

// OpenCheckpoint checks a sealed checkpoint and returns the start it names.
func OpenCheckpoint(key, sealed []byte) (Head, error) {
	if len(sealed) != 8+2*MACSize {
		return Head{}, fmt.Errorf("%w: malformed checkpoint", ErrBroken)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(checkpointLabel))
	m.Write(sealed[:8+MACSize])
	if !hmac.Equal(m.Sum(nil), sealed[8+MACSize:]) {
		return Head{}, fmt.Errorf("%w: checkpoint does not match its MAC", ErrBroken)
	}
	var h Head
	h.Seq = binary.BigEndian.Uint64(sealed[:8])
	copy(h.MAC[:], sealed[8:8+MACSize])
	return h, nil
}

// Backward calls fn with the payload of each entry from the newest to the oldest, until
// fn returns false.
func Backward(b *bolt.Bucket, fn func(seq uint64, payload []byte) bool) {
	c := b.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		if len(k) != 8 || len(v) < MACSize {
			continue
		}
		if !fn(binary.BigEndian.Uint64(k), v[MACSize:]) {
			return
		}
	}
}

// Range calls fn with the payload of each entry from seq from to seq to inclusive,
// in order, until fn returns an error or false.
func Range(b *bolt.Bucket, from, to uint64, fn func(seq uint64, payload []byte) bool) {
	c := b.Cursor()
	end := Key(to)
	for k, v := c.Seek(Key(from)); k != nil && bytes.Compare(k, end) <= 0; k, v = c.Next() {
		if len(k) != 8 || len(v) < MACSize {
			continue
		}
		if !fn(binary.BigEndian.Uint64(k), v[MACSize:]) {
			return
		}
	}
}
