package link

import (
	"context"
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

// presenceKeeper publishes the birth again when onOwnPresence asks, while connected.
func (l *Link) presenceKeeper(ctx context.Context) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.reassert:
		}
		if wait := minReassert - time.Since(last); wait > 0 {
			sleep(ctx, wait)
		}
		if !l.Connected() || l.stopping.Load() {
			continue
		}
		last = time.Now()
		if err := l.publishBirth(); err != nil {
			l.log.Warn("presence overwritten while connected; birth not published again", "err", err)
			continue
		}
		l.stats.reasserted.Add(1)
		l.log.Info("presence overwritten while connected (a late Last Will); birth published again")
	}
}
