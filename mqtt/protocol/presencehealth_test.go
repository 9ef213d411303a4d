package protocol

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestPresenceHealth: a birth's health summary survives encoding, its alarms are the
// drivers not ok as name=state in name order (what lockerctl shows from a health
// event too), and Check refuses a negative backlog, too many alarms and malformed ones.
func TestPresenceHealth(t *testing.T) {
	h := NewPresenceHealth(7, map[string]Health{"scanner": HealthFailed, "cu16-1": HealthOK, "bus0": HealthDegraded})
	if want := []string{"bus0=degraded", "scanner=failed"}; h.Outbox != 7 || !slices.Equal(h.Alarms, want) {
		t.Fatalf("summary %+v, want outbox 7 alarms %v", h, want)
	}
	raw, err := EncodePresence(&Presence{State: Online, Boot: "b", Version: "1.0", Health: h})
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodePresence(raw)
	if err != nil || !p.Health.Equal(h) {
		t.Fatalf("decoded %s: %+v, %v", raw, p, err)
	}
	if p, err := DecodePresence([]byte(`{"state":"offline","boot":"b","version":"1.0","reason":"lost"}`)); err != nil || p.Health != nil {
		t.Fatalf("a presence without health: %+v, %v", p, err)
	}

	many := map[string]Health{}
	for i := range MaxPresenceAlarms + 5 {
		many[fmt.Sprintf("d%02d", i)] = HealthFailed
	}
	if got := NewPresenceHealth(-3, many); got.Outbox != 0 || len(got.Alarms) != MaxPresenceAlarms || got.Alarms[0] != "d00=failed" {
		t.Fatalf("bounded summary: %+v", got)
	}
	if got := NewPresenceHealth(0, nil); got.Alarms != nil {
		t.Fatalf("no drivers, alarms %v", got.Alarms)
	}

	tooMany := make([]string, MaxPresenceAlarms+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("d%d=failed", i)
	}
	for _, bad := range []*PresenceHealth{
		{Outbox: -1},
		{Alarms: tooMany},
		{Alarms: []string{"scanner"}},
		{Alarms: []string{"scanner=ok"}},
		{Alarms: []string{"=failed"}},
		{Alarms: []string{"scanner="}},
		{Alarms: []string{"scan ner=failed"}},
		{Alarms: []string{"scanner=fa=iled"}},
		{Alarms: []string{strings.Repeat("x", MaxIDLen+1) + "=failed"}},
	} {
		if _, err := EncodePresence(&Presence{State: Online, Boot: "b", Version: "1.0", Health: bad}); err == nil {
			t.Errorf("health %+v accepted", bad)
		}
	}
	// A state this version does not know yet is still an alarm (a newer device).
	if _, err := DecodePresence([]byte(`{"state":"online","boot":"b","version":"1.0","health":{"outbox":0,"alarms":["lid=jammed"]}}`)); err != nil {
		t.Fatalf("unknown state refused: %v", err)
	}
	if !(*PresenceHealth)(nil).Equal(nil) || h.Equal(nil) || h.Equal(&PresenceHealth{Outbox: 7}) {
		t.Fatal("Equal")
	}
}
