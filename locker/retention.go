package locker

import (
	"fmt"
	"time"
)

// The audit log is kept for Policy.AuditKeep (a year by default), then pruned from its
// front: its entries hold only opaque ids, but with their times they still tell when a
// courier worked or a parcel was fetched, and the device's flash is not endless. The
// start of the pruned chain is kept as a checkpoint sealed with the audit key, so the
// rest still verifies and nobody without the key can cut more off its front unseen.
// See docs/adr/0030-audit-retention.md; locker/store keeps the chain.

// EvAuditPruned records that entries older than the audit retention were deleted.
const EvAuditPruned EventType = "audit_pruned"

// pruneDue reports whether the audit log was last looked at over an hour ago.
func (s *Station) pruneDue(now time.Time) bool { return now.Sub(s.lastPrune) >= time.Hour }

// pruneAuditLocked deletes audit entries older than the policy's AuditKeep, at most
// maxPerTick per call (store.Prunable says which), moves the checkpoint and records
// what it did.
func (s *Station) pruneAuditLocked(now time.Time) error {
	s.lastPrune = now
	upTo, n, unreadable, err := s.store.Prunable(now, s.policy.AuditKeep, maxPerTick)
	if err != nil || n == 0 {
		return err
	}
	if unreadable > 0 {
		s.log.Warn("audit retention: unreadable entries pruned with the old ones around them", "count", unreadable)
	}
	return s.update(func(t *txn) error {
		start, pruned, err := t.st.PruneAudit(upTo)
		if err != nil {
			return err
		}
		return t.emit(Event{Type: EvAuditPruned, Count: pruned, Actor: ActorSystem,
			Reason: fmt.Sprintf("entries up to %d, older than %v", start, s.policy.AuditKeep)})
	})
}
