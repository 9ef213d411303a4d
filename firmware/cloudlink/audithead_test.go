package cloudlink

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestHealthEventCarriesTheAuditHead: each health event carries the audit chain's
// head as it was before the report's own entry, so consecutive reports show the chain
// growing by their own entries; the head survives a restart (the fleet anchors it:
// docs/adr/0050-authenticated-events.md).
func TestHealthEventCarriesTheAuditHead(t *testing.T) {
	f := newStation(t)
	log := slog.New(slog.DiscardHandler)
	r := &healthReporter{st: f.st, drivers: func() []Driver { return nil }, stateDir: f.dir,
		outbox: func(n int) int { return n }, started: time.Now(), log: log, clock: f.clock.Now}
	seq0, mac0 := f.st.AuditHead()
	r.health()
	f.clock.advance(healthQuiet) // a report that says nothing new is recorded no sooner
	r.health()
	evs, err := newWireOutbox(f.st, log).Pending(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var heads []protocol.AuditHead
	for _, ev := range evs {
		if ev.Type != protocol.EvHealth {
			continue
		}
		var body protocol.HealthEvent
		if err := json.Unmarshal(ev.Body, &body); err != nil || body.Audit == nil {
			t.Fatalf("health event %d: %v, audit %v", ev.Seq, err, body.Audit)
		}
		heads = append(heads, *body.Audit)
	}
	if len(heads) != 2 {
		t.Fatalf("%d health events, want 2", len(heads))
	}
	if heads[0].Seq != seq0 || heads[0].Head != protocol.Digest(mac0) {
		t.Fatalf("first report's head %+v, want the head before it (%d)", heads[0], seq0)
	}
	if heads[1].Seq != seq0+1 || heads[1].Head == heads[0].Head || heads[1].Head.IsZero() {
		t.Fatalf("second report's head %+v, want the first report's own entry (%d)", heads[1], seq0+1)
	}
	seq, mac := f.st.AuditHead()
	if n, err := f.st.VerifyAudit(); err != nil || seq != seq0+2 {
		t.Fatalf("chain of %d entries (%v), head at %d, want %d", n, err, seq, seq0+2)
	}
	f.restart()
	if s2, m2 := f.st.AuditHead(); s2 != seq || m2 != mac {
		t.Fatalf("head after a restart %d, want %d and the same MAC", s2, seq)
	}
}
