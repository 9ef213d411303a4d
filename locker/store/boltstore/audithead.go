package boltstore

// AuditHead is the audit chain's last committed entry: its sequence number and MAC.
func (s *Store) AuditHead() (seq uint64, mac [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head.Seq, s.head.MAC
}
