package locker

// AuditHead returns the head of the audit hash chain as committed: the last entry's
// sequence number and MAC (zero for an empty chain). The cloud link's health event
// carries it, so that the fleet can anchor the chain and notice it truncated or
// rewritten (docs/adr/0050-authenticated-events.md). The MAC is keyed: it reveals
// nothing of the entries.
func (s *Station) AuditHead() (seq uint64, mac [32]byte) { return s.store.AuditHead() }
