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

// An entry is stored as MAC || payload, or, while it carries a trailer, as
// MAC || 0x00 || uvarint(len(payload)) || payload || trailer. A trailer is data kept
// beside an entry for a while and outside the chain (the store keeps there the sealed
// form of an event not yet delivered, docs/adr/0060-outbox-in-the-audit-log.md): the
// MAC covers the payload alone, so a trailer is dropped (StripTrailer) without
// touching the chain. Payloads are JSON here, which never starts with 0x00; one that
// does is stored in the framed form, so the two forms cannot be confused.
const framed = 0x00

// Append writes payload as the entry after h and returns the new head. The caller keeps
// the returned head only if its transaction commits.
func Append(b *bolt.Bucket, key []byte, h Head, payload []byte) (Head, error) {
	return AppendTrailer(b, key, h, payload, nil)
}

// AppendTrailer is Append with a trailer stored beside the payload (none if empty).
func AppendTrailer(b *bolt.Bucket, key []byte, h Head, payload, trailer []byte) (Head, error) {
	next := Head{Seq: h.Seq + 1}
	next.MAC = mac(key, h.MAC, next.Seq, payload)
	// Keys only ever grow: fill pages completely instead of splitting them in half,
	// which halves the pages (and the branch entries) every later append rewrites.
	b.FillPercent = 1.0
	if err := b.Put(Key(next.Seq), encode(next.MAC, payload, trailer)); err != nil {
		return h, fmt.Errorf("audit: append %d: %w", next.Seq, err)
	}
	return next, nil
}

func encode(m [MACSize]byte, payload, trailer []byte) []byte {
	if len(trailer) == 0 && (len(payload) == 0 || payload[0] != framed) {
		return append(append(make([]byte, 0, MACSize+len(payload)), m[:]...), payload...)
	}
	v := make([]byte, 0, MACSize+1+binary.MaxVarintLen64+len(payload)+len(trailer))
	v = append(v, m[:]...)
	v = append(v, framed)
	v = binary.AppendUvarint(v, uint64(len(payload)))
	v = append(v, payload...)
	return append(v, trailer...)
}

// split parses a stored entry; ok is false for a malformed one.
func split(v []byte) (m, payload, trailer []byte, ok bool) {
	if len(v) < MACSize {
		return nil, nil, nil, false
	}
	m, rest := v[:MACSize], v[MACSize:]
	if len(rest) == 0 || rest[0] != framed {
		return m, rest, nil, true
	}
	n, w := binary.Uvarint(rest[1:])
	if w <= 0 || n > uint64(len(rest)-1-w) {
		return nil, nil, nil, false
	}
	rest = rest[1+w:]
	return m, rest[:n], rest[n:], true
}

// Trailer returns entry seq's trailer (nil when it has none or there is no such
// entry); found reports whether the entry exists. The slice is bbolt's: valid for the
// transaction only.
func Trailer(b *bolt.Bucket, seq uint64) (payload, trailer []byte, found bool, err error) {
	v := b.Get(Key(seq))
	if v == nil {
		return nil, nil, false, nil
	}
	_, payload, trailer, ok := split(v)
	if !ok {
		return nil, nil, true, fmt.Errorf("%w: malformed entry %d", ErrBroken, seq)
	}
	return payload, trailer, true, nil
}

// SetTrailer stores trailer beside entry seq's payload (replacing any), leaving the
// chain unchanged; ok is false when there is no such entry.
func SetTrailer(b *bolt.Bucket, seq uint64, trailer []byte) (ok bool, err error) {
	v := b.Get(Key(seq))
	if v == nil {
		return false, nil
	}
	m, payload, _, good := split(v)
	if !good {
		return false, fmt.Errorf("%w: malformed entry %d", ErrBroken, seq)
	}
	if err := b.Put(Key(seq), encode([MACSize]byte(m), payload, trailer)); err != nil {
		return false, fmt.Errorf("audit: trailer %d: %w", seq, err)
	}
	return true, nil
}

// StripTrailers drops the trailers of the entries after after up to upTo inclusive,
// rewriting only those that carry one; the chain is unchanged. It returns how many
// it rewrote.
func StripTrailers(b *bolt.Bucket, after, upTo uint64) (int, error) {
	type rewrite struct{ k, v []byte }
	var out []rewrite
	c := b.Cursor()
	end := Key(upTo)
	for k, v := c.Seek(Key(after + 1)); k != nil && bytes.Compare(k, end) <= 0; k, v = c.Next() {
		m, payload, trailer, ok := split(v)
		if len(k) != 8 || !ok || len(trailer) == 0 {
			continue
		}
		out = append(out, rewrite{bytes.Clone(k), encode([MACSize]byte(m), payload, nil)})
	}
	b.FillPercent = 1.0
	for _, r := range out { // bbolt forbids writes while a cursor walks the bucket
		if err := b.Put(r.k, r.v); err != nil {
			return 0, fmt.Errorf("audit: strip %x: %w", r.k, err)
		}
	}
	return len(out), nil
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
		m, payload, _, ok := split(v)
		if len(k) != 8 || !ok {
			return fmt.Errorf("%w: malformed entry after %d", ErrBroken, h.Seq)
		}
		seq := binary.BigEndian.Uint64(k)
		if seq != h.Seq+1 {
			return fmt.Errorf("%w: entry %d follows %d", ErrBroken, seq, h.Seq)
		}
		want := mac(key, h.MAC, seq, payload)
		if !hmac.Equal(want[:], m) {
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
		_, payload, _, ok := split(v)
		if len(k) != 8 || !ok {
			continue
		}
		if !fn(binary.BigEndian.Uint64(k), payload) {
			return
		}
	}
}

// Range calls fn with the payload of each entry from seq from to seq to inclusive,
// in order, until fn returns false.
func Range(b *bolt.Bucket, from, to uint64, fn func(seq uint64, payload []byte) bool) {
	RangeTrailers(b, from, to, func(seq uint64, payload, _ []byte) bool { return fn(seq, payload) })
}

// RangeChecked is RangeTrailers from seq from on that also checks each entry's MAC
// against the stored MAC of the entry before it (start's, when that one was pruned or
// from is the chain's first), and that sequence numbers run without gaps: a payload
// changed on the flash is refused with ErrBroken, since only a holder of the key can
// make a MAC. It stops at the first entry that does not check, or when fn returns
// false. Readers that act on a payload (the outbox sends it) use it; Verify walks the
// whole chain.
func RangeChecked(b *bolt.Bucket, key []byte, start Head, from uint64, fn func(seq uint64, payload, trailer []byte) bool) error {
	var prev Head
	known := false
	if from > 1 {
		if m, _, _, ok := split(b.Get(Key(from - 1))); ok {
			prev.Seq, prev.MAC, known = from-1, [MACSize]byte(m), true
		}
	}
	c := b.Cursor()
	for k, v := c.Seek(Key(from)); k != nil; k, v = c.Next() {
		m, payload, trailer, ok := split(v)
		if len(k) != 8 || !ok {
			return fmt.Errorf("%w: malformed entry %x", ErrBroken, k)
		}
		seq := binary.BigEndian.Uint64(k)
		if !known {
			prev, known = start, true
		}
		if seq != prev.Seq+1 {
			return fmt.Errorf("%w: entry %d follows %d", ErrBroken, seq, prev.Seq)
		}
		if want := mac(key, prev.MAC, seq, payload); !hmac.Equal(want[:], m) {
			return fmt.Errorf("%w: entry %d does not match its MAC", ErrBroken, seq)
		}
		prev.Seq, prev.MAC = seq, [MACSize]byte(m)
		if !fn(seq, payload, trailer) {
			return nil
		}
	}
	return nil
}

// RangeTrailers is Range that also passes each entry's trailer (nil when none).
// Malformed entries are skipped.
func RangeTrailers(b *bolt.Bucket, from, to uint64, fn func(seq uint64, payload, trailer []byte) bool) {
	c := b.Cursor()
	end := Key(to)
	for k, v := c.Seek(Key(from)); k != nil && bytes.Compare(k, end) <= 0; k, v = c.Next() {
		_, payload, trailer, ok := split(v)
		if len(k) != 8 || !ok {
			continue
		}
		if !fn(binary.BigEndian.Uint64(k), payload, trailer) {
			return
		}
	}
}
