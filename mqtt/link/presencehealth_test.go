package link_test

import (
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/linktest"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestBirthCarriesHealthSummary (ADR 0068): the retained birth carries the health
// summary set before the connect; a changed summary is published again, once, and the
// retained presence a new subscriber gets carries it; setting the same summary again
// publishes nothing (the next presence seen is the following change, not a repeat).
func TestBirthCarriesHealthSummary(t *testing.T) {
	f := fixture.New(t, fixture.Options{NoLink: true})
	presences := f.Presences(t)
	cfg := f.LinkConfig(func(c *link.Config) { c.Boot = "boot-health" })
	l, err := link.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := protocol.NewPresenceHealth(3, map[string]protocol.Health{"scanner": protocol.HealthFailed, "cu16-1": protocol.HealthOK})
	l.SetPresenceHealth(first)
	linktest.Start(t, l)

	next := func(what string, want *protocol.PresenceHealth) {
		t.Helper()
		p := fixture.Next(t, presences)
		if p.State != protocol.Online || p.Boot != "boot-health" || !p.Health.Equal(want) {
			t.Fatalf("%s: presence %+v health %+v, want health %+v", what, p, p.Health, want)
		}
	}
	next("first birth", first)

	// The same summary (a new value, equal): nothing is published. Wait past the rate
	// limit so that a wrong republish would come before the change below.
	l.SetPresenceHealth(protocol.NewPresenceHealth(3, map[string]protocol.Health{"scanner": protocol.HealthFailed}))
	time.Sleep(1500 * time.Millisecond)

	second := protocol.NewPresenceHealth(0, nil)
	l.SetPresenceHealth(second)
	next("after a change", second)
	// The counter moves once the broker acknowledged, which may be after delivery.
	for deadline := time.Now().Add(5 * time.Second); l.Stats().Rebirths == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if s := l.Stats(); s.Rebirths != 1 || s.Reasserted != 0 {
		t.Fatalf("stats %+v, want one rebirth", s)
	}

	// What a fleet view subscribing now gets: the retained presence, with the summary.
	late := f.Presences(t)
	if p := fixture.Next(t, late); p.State != protocol.Online || !p.Health.Equal(second) {
		t.Fatalf("retained presence %+v health %+v, want %+v", p, p.Health, second)
	}

	// Several changes within the rate limit: at most one birth a second, the last wins.
	third := protocol.NewPresenceHealth(40, map[string]protocol.Health{"bus0": protocol.HealthDegraded})
	l.SetPresenceHealth(protocol.NewPresenceHealth(10, nil))
	l.SetPresenceHealth(protocol.NewPresenceHealth(20, nil))
	l.SetPresenceHealth(third)
	for {
		p := fixture.Next(t, presences)
		if p.Health.Equal(third) {
			break
		}
		if p.Health == nil || p.Health.Outbox != 10 {
			t.Fatalf("intermediate presence %+v health %+v", p, p.Health)
		}
	}
	if s := l.Stats(); s.Rebirths > 3 {
		t.Fatalf("%d rebirths for three changes within a second", s.Rebirths)
	}

	// A summary that does not validate is ignored: the birth keeps the last good one.
	l.SetPresenceHealth(&protocol.PresenceHealth{Outbox: -1})
	l.SetPresenceHealth(&protocol.PresenceHealth{Outbox: 5})
	if p := fixture.Next(t, presences); p.Health == nil || p.Health.Outbox != 5 {
		t.Fatalf("after an invalid then a valid summary: %+v", p.Health)
	}
}
