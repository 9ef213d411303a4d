package locker

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/audit"
)

// The audit log is kept for Policy.AuditKeep (a year by default), then pruned from its
// front: its entries hold only opaque ids, but with their times they still tell when a
// courier worked or a parcel was fetched, and the device's flash is not endless. The
// start of the pruned chain is kept as a checkpoint sealed with the audit key, so the
// rest still verifies and nobody without the key can cut more off its front unseen.
// See docs/adr/0030-audit-retention.md.

var metaAuditCheckpoint = []byte("audit_checkpoint")

// EvAuditPruned records that entries older than the audit retention were deleted.
const EvAuditPruned EventType = "audit_pruned"

// auditStart returns the sealed start of the audit chain: the zero Head when nothing
// was ever pruned.
func auditStart(tx *boltTx, key []byte) (audit.Head, error) {
	sealed := tx.Bucket(bucketMeta).Get(metaAuditCheckpoint)
	if sealed == nil {
		return audit.Head{}, nil
	}
	return audit.OpenCheckpoint(key, sealed)
}

// pruneDue reports whether the audit log was last looked at over an hour ago.
func (s *Station) pruneDue(now time.Time) bool { return now.Sub(s.lastPrune) >= time.Hour }

// pruneAuditLocked deletes audit entries older than the policy's AuditKeep, at most
// maxPerTick per call, moves the checkpoint and records what it did. Age is judged
// against the earlier of now and the newest entry's time: a clock leaping ahead prunes
// nothing until entries are written at the new time, and a clock set back prunes by
// its own, earlier, reading. An entry that does not decode goes with
// the old entries around it (it is pruned only when a readable older-than-cutoff entry
// follows it); the count of those is logged.
func (s *Station) pruneAuditLocked(now time.Time) error {
	s.lastPrune = now
	type stamped struct {
		At time.Time `json:"at"`
	}
	var upTo uint64
	n, unreadable, pendingUnreadable := 0, 0, 0
	err := s.view(func(tx *boltTx) error {
		b := tx.Bucket(bucketAudit)
		ref := now
		if _, v := b.Cursor().Last(); len(v) > audit.MACSize {
			var last stamped
			if json.Unmarshal(v[audit.MACSize:], &last) == nil && last.At.Before(ref) {
				ref = last.At
			}
		}
		cutoff := ref.Add(-s.policy.AuditKeep)
		audit.Range(b, 0, ^uint64(0), func(seq uint64, payload []byte) bool {
			if n+pendingUnreadable >= maxPerTick {
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
	if err != nil || n == 0 {
		return err
	}
	if unreadable > 0 {
		s.log.Warn("audit retention: unreadable entries pruned with the old ones around them", "count", unreadable)
	}
	return s.update(func(t *txn) error {
		start, pruned, err := audit.Prune(t.tx.Bucket(bucketAudit), upTo)
		if err != nil {
			return err
		}
		if err := t.tx.Bucket(bucketMeta).Put(metaAuditCheckpoint, audit.Checkpoint(s.keys.AuditKey(), start)); err != nil {
			return err
		}
		return t.emit(Event{Type: EvAuditPruned, Count: pruned, Actor: ActorSystem,
			Reason: fmt.Sprintf("entries up to %d, older than %v", start.Seq, s.policy.AuditKeep)})
	})
}
