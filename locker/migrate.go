package locker

import "github.com/lockerd/lockerd/locker/store"

// logMigration says, once, what the first start of this build changed in a store an
// older build wrote (docs/adr/0049-nothing-linkable-at-rest.md).
func (s *Station) logMigration(m store.Migration) {
	if m == (store.Migration{}) {
		return
	}
	s.log.Info("store migrated", "from_schema", m.From, "hints_sealed", m.Hints, "outbox_moved", m.Outbox)
	if m.Couriers > 0 {
		// Their badge digests cannot be computed here: the cloud must send them again.
		s.log.Warn("courier records of the old form dropped: send every courier again (courier-upsert with badge and verifier)",
			"couriers", m.Couriers)
	}
	if m.OutboxLost > 0 {
		// Undelivered for longer than the audit log keeps entries (docs/adr/0060).
		s.log.Warn("undelivered events older than the audit log dropped", "events", m.OutboxLost)
	}
}
