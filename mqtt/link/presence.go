package link

import (
	"context"
	"slices"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// The retained presence says "online" only while the link says so. A broker can
// publish a locker's Last Will late: a cluster node that died with the locker's old
// connection and comes back, or a bridge that delivers it after the locker has
// reconnected elsewhere. That stale "lost" overwrites the retained "online" of the
// live connection, and every observer of the retained topic (the fleet side,
// lockerctl fleet, lockerctl refusing commands to offline lockers) then believes the
// locker is gone while it serves. So the link reads its own status topic and, when a
// live (not retained-on-subscribe) presence other than its own current birth arrives
// while it is connected, publishes its birth again (docs/protocol.md §2, ADR 0057).

// minReassert bounds how often the birth is published again: two devices
// misconfigured with one locker id must not flood the broker fighting over it.
const minReassert = time.Second

// onOwnPresence is the status topic's message handler. It never blocks: paho runs it
// on its router goroutine.
func (l *Link) onOwnPresence(_ paho.Client, m paho.Message) {
	if m.Retained() || l.stopping.Load() {
		return // the stored value at subscription (the birth follows), or our own offline
	}
	p, err := protocol.DecodePresence(m.Payload())
	if err == nil && p.State == protocol.Online && p.Boot == l.cfg.Boot {
		return // our own birth
	}
	select {
	case l.reassert <- struct{}{}:
	default: // one is already pending
	}
}

// SetPresenceHealth sets the health summary the birth carries (docs/protocol.md §6,
// ADR 0068): advisory figures for fleet views that read only the retained presences.
// When it differs from the one the last birth carried and the link is connected, the
// birth is published again, at most once a second (minReassert), with the summary
// current then; while disconnected, the next connect's birth carries it. Nothing is
// stored: after a restart the birth has no summary until the first is set. nil
// removes it; a summary that does not validate is logged and ignored.
func (l *Link) SetPresenceHealth(h *protocol.PresenceHealth) {
	if h != nil {
		if err := h.Check(); err != nil {
			l.log.Warn("presence health summary ignored", "err", err)
			return
		}
		c := *h
		c.Alarms = slices.Clone(h.Alarms)
		h = &c
	}
	l.healthMu.Lock()
	l.health = h
	changed := !h.Equal(l.published)
	l.healthMu.Unlock()
	if changed && l.Connected() && !l.stopping.Load() {
		select {
		case l.rebirth <- struct{}{}:
		default: // one is already pending; it publishes the summary current then
		}
	}
}

// healthPublished reports whether the last birth carried the current summary.
func (l *Link) healthPublished() bool {
	l.healthMu.Lock()
	defer l.healthMu.Unlock()
	return l.health.Equal(l.published)
}

// presenceKeeper publishes the birth again, while connected, when onOwnPresence asks
// or when SetPresenceHealth changed the summary; both share the rate limit.
func (l *Link) presenceKeeper(ctx context.Context) {
	var last time.Time
	for {
		overwritten := false
		select {
		case <-ctx.Done():
			return
		case <-l.reassert:
			overwritten = true
		case <-l.rebirth:
		}
		if wait := minReassert - time.Since(last); wait > 0 {
			sleep(ctx, wait)
		}
		if !l.Connected() || l.stopping.Load() {
			continue
		}
		if !overwritten && l.healthPublished() {
			continue // a reconnect's birth, or an earlier rebirth, carried it already
		}
		last = time.Now()
		if err := l.publishBirth(); err != nil {
			l.log.Warn("birth not published again", "overwritten", overwritten, "err", err)
			continue
		}
		if !overwritten {
			l.stats.rebirths.Add(1)
			continue
		}
		l.stats.reasserted.Add(1)
		l.log.Info("presence overwritten while connected (a late Last Will); birth published again")
	}
}
