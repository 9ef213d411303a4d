package fleet

import (
	"fmt"
	"testing"
	"time"
)

func healthJSON(id string, seq int, auditSeq uint64, mac byte) []byte {
	head := fmt.Sprintf("%02x%062x", mac, 0)
	if auditSeq == 0 {
		head = fmt.Sprintf("%064x", 0)
	}
	return fmt.Appendf(nil, `{"id":%q,"seq":%d,"type":"health","time":"2026-12-06T10:00:00Z","body":{"uptime_s":1,"storage_free_bytes":1,"outbox":0,"parcels":0,"audit":{"seq":%d,"head":%q}}}`,
		id, seq, auditSeq, head)
}

// TestAnchorIgnoresOlderReports: a health event redelivered after a newer one (by
// event seq) is no truncation; a newer one with a lower head is.
func TestAnchorIgnoresOlderReports(t *testing.T) {
	c := testClient(100, 100, &fakeClock{now: time.Unix(0, 0)}, nil)
	c.events.onEvent(discard, "L1", healthJSON("h-2", 2, 50, 2))
	c.events.onEvent(discard, "L1", healthJSON("h-1", 1, 40, 1)) // late, older report
	if st := c.AuditStats(); st.Anchored != 1 || st.Truncated != 0 {
		t.Fatalf("after a late older report: %+v", st)
	}
	c.events.onEvent(discard, "L1", healthJSON("h-3", 3, 45, 3))
	if st := c.AuditStats(); st.Anchored != 2 || st.Truncated != 1 {
		t.Fatalf("after a lower head: %+v", st)
	}
	if a, _ := c.AuditAnchor("L1"); a.Problem != AuditTruncated || a.Head.Seq != 50 {
		t.Fatalf("anchor %+v", a)
	}
}

// TestAnchorRemembersABoundedNumberOfHeads: a locker's remembered heads stay within
// maxAnchoredHeads, the oldest forgotten first.
func TestAnchorRemembersABoundedNumberOfHeads(t *testing.T) {
	c := testClient(10000, 10000, &fakeClock{now: time.Unix(0, 0)}, nil)
	for i := 1; i <= maxAnchoredHeads+100; i++ {
		c.events.onEvent(discard, "L1", healthJSON(fmt.Sprintf("h-%d", i), i, uint64(i), byte(i)|1))
	}
	a := c.events.anchors["L1"]
	if len(a.seen) != maxAnchoredHeads || len(a.order) != maxAnchoredHeads {
		t.Fatalf("%d heads remembered, want %d", len(a.seen), maxAnchoredHeads)
	}
	if _, ok := a.seen[1]; ok {
		t.Fatal("the oldest head was not forgotten")
	}
	if st := c.AuditStats(); st.Truncated+st.Rewritten != 0 {
		t.Fatalf("a growing chain reported broken: %+v", st)
	}
}
