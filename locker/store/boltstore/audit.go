package boltstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/audit"
	"github.com/lockerd/lockerd/locker/privacy"
)

// NextSeq is the sequence number the next event appended in this transaction gets.
func (t *Tx) NextSeq() uint64 { return t.head.Seq + 1 }

// Append records one event, numbered NextSeq, in the audit chain: auditPayload, and,
// when payload (the event as the cloud link sends it) says more than auditPayload,
// payload sealed under epoch's key as the entry's trailer until the event is
// delivered (docs/adr/0060-outbox-in-the-audit-log.md). One appended bucket: the
// outbox is the chain after its delivered mark.
func (t *Tx) Append(auditPayload, payload []byte, epoch uint32) error {
	var trailer []byte
	if !bytes.Equal(auditPayload, payload) {
		key, err := t.s.keyring.Key(epoch)
		if err != nil {
			return fmt.Errorf("locker: epoch key: %w", err)
		}
		// No epoch reference count for the sealed forms: they live until delivered
		// (minutes), and the shredder checks the undelivered events itself, which
		// keeps this hot path one page lighter.
		trailer = append(epochKey(epoch), privacy.SealBytes(key, payload, audit.Key(t.head.Seq+1))...)
	}
	h, err := audit.AppendTrailer(t.tx.Bucket(bucketAudit), t.s.auditKey, t.head, auditPayload, trailer)
	if err != nil {
		return err
	}
	t.head = h
	return nil
}

// ResumeAudit finds the audit chain's head: its last entry or, when it is empty, its
// pruned start. damaged reports a checkpoint that does not open; the chain then starts
// again at 1 (`lockerd audit` reports it).
func (t *Tx) ResumeAudit() (damaged, err error) {
	h, err := audit.Last(t.tx.Bucket(bucketAudit))
	if err != nil {
		return nil, err
	}
	if h.Seq == 0 { // empty: the chain goes on from its pruned start, if any
		h, damaged = auditStart(t.tx, t.s.auditKey)
	}
	t.head = h
	// A chain that starts again (a damaged checkpoint) starts its outbox again too:
	// a delivered mark beyond the head would hide the events to come.
	if outboxAcked(t.tx) > h.Seq {
		if err := t.tx.Bucket(bucketMeta).Put(metaOutboxAcked, binary.BigEndian.AppendUint64(nil, h.Seq)); err != nil {
			return damaged, err
		}
	}
	return damaged, nil
}

// auditStart returns the sealed start of the audit chain: the zero Head when nothing
// was ever pruned.
func auditStart(tx *bolt.Tx, key []byte) (audit.Head, error) {
	sealed := tx.Bucket(bucketMeta).Get(metaAuditCheckpoint)
	if sealed == nil {
		return audit.Head{}, nil
	}
	return audit.OpenCheckpoint(key, sealed)
}

// VerifyAudit walks the audit chain and returns the number of entries, or an error
// wrapping audit.ErrBroken.
func (s *Store) VerifyAudit() (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		start, err := auditStart(tx, s.auditKey)
		if err != nil {
			return err
		}
		return verifyFrom(tx, s.auditKey, start, &n)
	})
	return n, err
}

// verifyFrom verifies the chain from its start; a checkpoint with no entry after it
// is a wiped log (every pruning pass appends its own entry).
func verifyFrom(tx *bolt.Tx, key []byte, start audit.Head, n *int) error {
	_, count, err := audit.VerifyFrom(tx.Bucket(bucketAudit), key, start)
	*n = count
	if err == nil && count == 0 && start.Seq > 0 {
		return fmt.Errorf("%w: no entry after the checkpoint at %d", audit.ErrBroken, start.Seq)
	}
	return err
}

// VerifyAuditFile verifies the audit chain of a store that is not open, read-only.
func VerifyAuditFile(path string, auditKey []byte) (int, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return 0, fmt.Errorf("locker: open store: %w", openErr(err))
	}
	defer db.Close()
	var n int
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil || tx.Bucket(bucketMeta) == nil {
			return errors.New("locker: store has no audit log")
		}
		start, err := auditStart(tx, auditKey)
		if err != nil {
			return err
		}
		return verifyFrom(tx, auditKey, start, &n)
	})
	return n, err
}

// AuditRange calls fn with each audit entry's payload from seq from to seq to, in
// order, until fn returns false; an error fn leaves in its closure is the caller's.
func (s *Store) AuditRange(from, to uint64, fn func(seq uint64, payload []byte) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		audit.Range(tx.Bucket(bucketAudit), from, to, fn)
		return nil
	})
}

// AuditBackward calls fn with each audit entry's payload from the newest back, until
// fn returns false.
func (s *Store) AuditBackward(fn func(seq uint64, payload []byte) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		audit.Backward(tx.Bucket(bucketAudit), fn)
		return nil
	})
}

// Prunable finds the audit entries older than keep, at most max: it returns the last
// one's sequence number, how many there are and how many of them did not decode. Age
// is judged against the earlier of now and the newest entry's time ("at" in its JSON):
// a clock leaping ahead prunes nothing until entries are written at the new time, and a
// clock set back prunes by its own, earlier, reading. An entry that does not decode
// goes with the old entries around it (it is pruned only when a readable
// older-than-cutoff entry follows it). See docs/adr/0030-audit-retention.md.
func (s *Store) Prunable(now time.Time, keep time.Duration, max int) (upTo uint64, n, unreadable int, err error) {
	type stamped struct {
		At time.Time `json:"at"`
	}
	pendingUnreadable := 0
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		ref := now
		if _, v := b.Cursor().Last(); len(v) > audit.MACSize {
			var last stamped
			if json.Unmarshal(v[audit.MACSize:], &last) == nil && last.At.Before(ref) {
				ref = last.At
			}
		}
		cutoff := ref.Add(-keep)
		audit.Range(b, 0, ^uint64(0), func(seq uint64, payload []byte) bool {
			if n+pendingUnreadable >= max {
				return false
			}
			var e stamped
			if json.Unmarshal(payload, &e) != nil {
				pendingUnreadable++
				return true
			}
			if !e.At.Before(cutoff) {
				return false
			}
			upTo, n = seq, n+1+pendingUnreadable
			unreadable += pendingUnreadable
			pendingUnreadable = 0
			return true
		})
		return nil
	})
	return upTo, n, unreadable, err
}

// PruneAudit deletes the audit entries up to seq upTo and moves the sealed checkpoint
// to the last one deleted. It returns that start and how many entries went. An event
// still undelivered goes with its entry: retention bounds the outbox too
// (docs/adr/0060-outbox-in-the-audit-log.md), and the delivered mark moves past it.
func (t *Tx) PruneAudit(upTo uint64) (start uint64, pruned int, err error) {
	h, pruned, err := audit.Prune(t.tx.Bucket(bucketAudit), upTo)
	if err != nil {
		return 0, 0, err
	}
	if outboxAcked(t.tx) < h.Seq {
		if err := t.tx.Bucket(bucketMeta).Put(metaOutboxAcked, binary.BigEndian.AppendUint64(nil, h.Seq)); err != nil {
			return 0, 0, err
		}
	}
	if err := t.tx.Bucket(bucketMeta).Put(metaAuditCheckpoint, audit.Checkpoint(t.s.auditKey, h)); err != nil {
		return 0, 0, err
	}
	return h.Seq, pruned, nil
}
