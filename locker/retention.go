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
// maxPerTick per call, moves the checkpoint and records what it did.
func (s *Station) pruneAuditLocked(now time.Time) error {
	s.lastPrune = now
	cutoff := now.Add(-s.policy.AuditKeep)
	var upTo uint64
	n := 0
	err := s.view(func(tx *boltTx) error {
		var ferr error
		audit.Range(tx.Bucket(bucketAudit), 0, ^uint64(0), func(seq uint64, payload []byte) bool {
			var e struct {
				At time.Time `json:"at"`
			}
			if ferr = json.Unmarshal(payload, &e); ferr != nil {
				ferr = fmt.Errorf("audit entry %d: %w", seq, ferr)
				return false
			}
			if !e.At.Before(cutoff) || n == maxPerTick {
				return false
			}
			upTo, n = seq, n+1
			return true
		})
		return ferr
	})
	if err != nil || n == 0 {
		return err
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
