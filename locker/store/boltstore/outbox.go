package boltstore

import (
	"encoding/binary"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/audit"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// The outbox is the audit log after the last delivered event
// (docs/adr/0060-outbox-in-the-audit-log.md): meta's outbox_acked holds the sequence
// number up to which the cloud link has the events, and an event that must reach the
// cloud with more than its audit entry says (a waybill digest) carries its sealed form
// as the entry's trailer until then. Every commit appends to one bucket, not two.

// OpenOutbox opens one sealed outbox form (an audit entry's trailer), stored under
// key k with value v = epoch (4 BE) || sealed payload, and passes its payload to
// decode. Every error names the entry.
func (s *Store) OpenOutbox(k, v []byte, decode store.Decode) error {
	if len(v) < 4 {
		return fmt.Errorf("locker: outbox entry %x malformed", k)
	}
	key, ok := s.keyring.Lookup(binary.BigEndian.Uint32(v))
	if !ok {
		return fmt.Errorf("locker: outbox entry %x: epoch key missing", k)
	}
	plain, err := privacy.OpenBytes(key, v[4:], k)
	if err != nil {
		return fmt.Errorf("locker: outbox entry %x: %w", k, err)
	}
	var seq uint64
	if len(k) == 8 {
		seq = binary.BigEndian.Uint64(k)
	}
	if err := decode(seq, plain); err != nil {
		return fmt.Errorf("locker: outbox entry %x: %w", k, err)
	}
	return nil
}

// outboxAcked is the sequence number up to which events are delivered.
func outboxAcked(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bucketMeta).Get(metaOutboxAcked); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// openEvent passes the outbox form of audit entry seq (its payload, v) to decode: its
// trailer opened when it has one, else its audit payload.
func (s *Store) openEvent(seq uint64, payload, trailer []byte, decode store.Decode) error {
	if len(trailer) > 0 {
		return s.OpenOutbox(audit.Key(seq), trailer, decode)
	}
	if err := decode(seq, payload); err != nil {
		return fmt.Errorf("locker: outbox entry %x: %w", audit.Key(seq), err)
	}
	return nil
}

// pending calls fn with each undelivered event after seq after, in order, until fn
// returns false or an error. Each entry's MAC is checked first: the link signs what it
// sends (ADR 0050), so a payload changed on the card must not reach it (before ADR
// 0060 the outbox's own seal refused it).
func (s *Store) pending(tx *bolt.Tx, after uint64, fn func(seq uint64, payload, trailer []byte) (bool, error)) error {
	after = max(after, outboxAcked(tx))
	start, err := auditStart(tx, s.auditKey)
	if err != nil {
		start = audit.Head{} // a damaged checkpoint: the chain started again at 1 (ResumeAudit)
	}
	var ferr error
	err = audit.RangeChecked(tx.Bucket(bucketAudit), s.auditKey, start, after+1, func(seq uint64, payload, trailer []byte) bool {
		var more bool
		more, ferr = fn(seq, payload, trailer)
		return more && ferr == nil
	})
	if err != nil {
		return fmt.Errorf("locker: outbox: %w", err)
	}
	return ferr
}

// Outbox passes up to max entries after seq after to decode, in sequence order.
// Entries stay until OutboxAck.
func (s *Store) Outbox(after uint64, max int, decode store.Decode) error {
	return s.db.View(func(tx *bolt.Tx) error {
		n := 0
		return s.pending(tx, after, func(seq uint64, payload, trailer []byte) (bool, error) {
			if n == max {
				return false, nil
			}
			n++
			return true, s.openEvent(seq, payload, trailer, decode)
		})
	})
}

// OutboxAck marks every event up to seq delivered. Acking again is not an error.
func (s *Store) OutboxAck(seq uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error { return ackUpTo(tx, seq) })
}

// ackUpTo moves the delivered mark to seq (never back) and drops the sealed forms of
// the events it passes.
func ackUpTo(tx *bolt.Tx, seq uint64) error {
	acked := outboxAcked(tx)
	if seq <= acked {
		return nil
	}
	if _, err := audit.StripTrailers(tx.Bucket(bucketAudit), acked, seq); err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Put(metaOutboxAcked, binary.BigEndian.AppendUint64(nil, seq))
}

// OutboxLen returns the number of events not yet delivered.
func (t *Tx) OutboxLen() int {
	last, err := audit.Last(t.tx.Bucket(bucketAudit))
	if acked := outboxAcked(t.tx); err == nil && last.Seq > acked {
		return int(last.Seq - acked)
	}
	return 0
}

// Wire is the outbox as the cloud link sees it (docs/adr/0023-event-outbox-and-ordering.md):
// only the entries keep accepts, numbered 1, 2, 3, … for ever. The k-th kept entry after
// the last acknowledged one has the number acked+k; only the last acknowledged number is
// stored, so the numbering is a pure function of it and of the outbox, and an entry
// keeps its number across restarts until it is acknowledged.
//
// It remembers, in memory, where each kept entry not yet acknowledged sits in the
// outbox and how far it has looked, so every entry is opened and judged once, not on
// every read: announcements leave many entries that are never sent.
type Wire struct {
	s    *Store
	keep func(payload []byte) (bool, error)

	mu      sync.Mutex
	loaded  bool
	acked   uint64    // last acknowledged wire number, as stored
	scanned uint64    // outbox entries up to this audit seq have been judged
	kept    []wireRef // kept entries after acked, numbered acked+1, acked+2, …
}

type wireRef struct{ wire, seq uint64 }

// Wire returns the wire view of the outbox for a link that sends the entries keep
// accepts. keep must be a pure function of the entry (the numbering relies on it).
func (s *Store) Wire(keep func(payload []byte) (bool, error)) store.Wire {
	return &Wire{s: s, keep: keep}
}

// scan judges the outbox entries not yet judged, until want kept entries are known
// after wire number after (want < 0: all). Call with o.mu held.
func (o *Wire) scan(tx *bolt.Tx, after uint64, want int) error {
	if !o.loaded {
		o.acked, o.scanned, o.kept, o.loaded = wireAcked(tx), 0, nil, true
	}
	enough := func() bool {
		if want < 0 {
			return false
		}
		last := o.acked + uint64(len(o.kept))
		return last >= after && last-after >= uint64(want)
	}
	if enough() {
		return nil
	}
	return o.s.pending(tx, o.scanned, func(seq uint64, payload, trailer []byte) (bool, error) {
		var keep bool
		if err := o.s.openEvent(seq, payload, trailer, func(_ uint64, payload []byte) (err error) {
			keep, err = o.keep(payload)
			return err
		}); err != nil {
			return false, err
		}
		o.scanned = seq
		if keep {
			o.kept = append(o.kept, wireRef{wire: o.acked + uint64(len(o.kept)) + 1, seq: seq})
		}
		return !enough(), nil
	})
}

// Pending passes up to max kept entries numbered after after to decode, in order,
// with their wire numbers. It only reads.
func (o *Wire) Pending(after uint64, max int, decode func(wire, seq uint64, payload []byte) error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.s.db.View(func(tx *bolt.Tx) error {
		if err := o.scan(tx, after, max); err != nil {
			return err
		}
		b := tx.Bucket(bucketAudit)
		acked := outboxAcked(tx)
		n := 0
		for _, r := range o.kept {
			if r.wire <= after {
				continue
			}
			if n == max {
				break
			}
			payload, trailer, found, err := audit.Trailer(b, r.seq)
			if err != nil {
				return err
			}
			if !found || r.seq <= acked { // removed behind our back: judge everything again
				o.loaded = false
				return fmt.Errorf("locker: outbox entry %d vanished", r.seq)
			}
			if err := o.s.openEvent(r.seq, payload, trailer, func(seq uint64, payload []byte) error {
				return decode(r.wire, seq, payload)
			}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
}

// Ack removes the kept entries numbered up to wire, and every entry the link does not
// send that precedes the last of them, in one commit. Acking an entry again is not an
// error. lock is taken after the view's own lock and held for the commit (the station
// refuses it once closed).
func (o *Wire) Ack(wire uint64, lock func() (unlock func(), err error)) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	unlock, err := lock()
	if err != nil {
		return err
	}
	defer unlock()
	err = o.s.db.Update(func(tx *bolt.Tx) error {
		if err := o.scan(tx, wire, 0); err != nil {
			return err
		}
		if wire <= o.acked || len(o.kept) == 0 {
			return nil
		}
		n := min(int(wire-o.acked), len(o.kept)) // an ack beyond what was seen must not leave a gap
		last := o.kept[n-1]
		if err := ackUpTo(tx, last.seq); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaWireAcked, binary.BigEndian.AppendUint64(nil, last.wire))
	})
	if err != nil {
		o.loaded = false // the transaction did not commit: start from the store again
		return err
	}
	if wire > o.acked && len(o.kept) > 0 {
		n := min(int(wire-o.acked), len(o.kept))
		o.acked = o.kept[n-1].wire
		o.kept = append(o.kept[:0:0], o.kept[n:]...)
	}
	return nil
}

// Len returns the number of kept entries not yet acknowledged.
func (o *Wire) Len() (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.s.db.View(func(tx *bolt.Tx) error { return o.scan(tx, 0, -1) })
	return len(o.kept), err
}

func wireAcked(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bucketMeta).Get(metaWireAcked); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}
