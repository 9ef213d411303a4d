package protocol

// AuditHead is the head of a locker's audit hash chain when a health event was made
// (docs/protocol.md §5.3): the last entry's sequence number and its MAC. The fleet
// anchors it, so that a chain later truncated (a head whose seq went back) or
// rewritten (another MAC at a seq already seen) is noticed
// (docs/adr/0050-authenticated-events.md).
type AuditHead struct {
	Seq  uint64 `json:"seq"`
	Head Digest `json:"head"` // the entry's HMAC, 64 lower-case hex digits
}

// validate checks a head: an empty chain has no MAC, any other has one.
func (h *AuditHead) validate() error {
	if (h.Seq == 0) != h.Head.IsZero() {
		return schemaErr("body.audit", ProblemBadValue, "seq 0 exactly when the head is zero")
	}
	return nil
}
