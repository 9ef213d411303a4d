package fleet

import (
	"log/slog"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Anchoring of each locker's audit hash chain (docs/adr/0050-authenticated-events.md):
// the periodic health event carries the chain's head (seq and MAC); the client
// remembers the heads it has seen per locker and reports a chain that was truncated
// (a head whose seq went back) or rewritten (another MAC at a seq already seen). Only
// authenticated events reach here, and only a health event newer (by event seq) than
// the last one anchored counts: a late redelivery of an older report is no truncation.

// AuditProblem is what anchoring found wrong with a locker's audit chain.
type AuditProblem string

// Audit problems.
const (
	// AuditTruncated: a head whose seq is below one anchored before.
	AuditTruncated AuditProblem = "truncated"
	// AuditRewritten: a head with another MAC at a seq anchored before.
	AuditRewritten AuditProblem = "rewritten"
)

// AuditAnchor is what the client knows of one locker's audit chain.
type AuditAnchor struct {
	Head protocol.AuditHead // the highest head anchored
	// Problem is the first problem found ("" if none); it stays, as a chain that was
	// cut or rewritten once stays suspect whatever it reports later.
	Problem AuditProblem
	// ProblemHead is the head that showed Problem.
	ProblemHead protocol.AuditHead
}

// AuditStats counts the heads anchored and the problems found, over all lockers.
type AuditStats struct {
	Anchored  uint64 // health events whose head was compared and remembered
	Truncated uint64
	Rewritten uint64
}

// maxAnchoredHeads bounds the heads remembered per locker (the oldest are forgotten):
// at one health event every 5 minutes, about 3.5 days of reports.
const maxAnchoredHeads = 1024

// anchorState is one locker's anchoring.
type anchorState struct {
	eventSeq uint64                     // event seq of the last health event anchored
	anchor   AuditAnchor                //
	seen     map[uint64]protocol.Digest // MAC by audit seq
	order    []uint64                   // seqs in seen, oldest first
}

// anchor compares the head a health event of lockerID (event seq eventSeq) carries
// with what was anchored before, and remembers it. Call with s.mu held.
func (s *eventState) anchor(log *slog.Logger, lockerID string, eventSeq uint64, h protocol.AuditHead) {
	a := s.anchors[lockerID]
	if a == nil {
		a = &anchorState{seen: make(map[uint64]protocol.Digest)}
		s.anchors[lockerID] = a
	}
	if eventSeq <= a.eventSeq {
		return
	}
	a.eventSeq = eventSeq
	s.audit.Anchored++
	var problem AuditProblem
	if h.Seq < a.anchor.Head.Seq {
		problem = AuditTruncated
		s.audit.Truncated++
	} else if mac, ok := a.seen[h.Seq]; ok && mac != h.Head {
		problem = AuditRewritten
		s.audit.Rewritten++
	}
	if problem != "" {
		log.Error("audit chain of a locker no longer matches its anchor", "locker", lockerID, "problem", string(problem),
			"seq", h.Seq, "anchored_seq", a.anchor.Head.Seq)
		if a.anchor.Problem == "" {
			a.anchor.Problem, a.anchor.ProblemHead = problem, h
		}
	}
	if h.Seq >= a.anchor.Head.Seq {
		a.anchor.Head = h
	}
	if _, ok := a.seen[h.Seq]; !ok {
		a.seen[h.Seq] = h.Head
		a.order = append(a.order, h.Seq)
		if len(a.order) > maxAnchoredHeads {
			delete(a.seen, a.order[0])
			a.order = a.order[1:]
		}
	}
}

// AuditAnchor returns what the client anchored of a locker's audit chain, and whether
// it has seen a head of it.
func (c *Client) AuditAnchor(lockerID string) (AuditAnchor, bool) {
	c.events.mu.Lock()
	defer c.events.mu.Unlock()
	a := c.events.anchors[lockerID]
	if a == nil {
		return AuditAnchor{}, false
	}
	return a.anchor, true
}

// AuditStats returns the anchoring counters.
func (c *Client) AuditStats() AuditStats {
	c.events.mu.Lock()
	defer c.events.mu.Unlock()
	return c.events.audit
}
