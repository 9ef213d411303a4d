package link

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// errAckTimeout means the broker did not acknowledge a publish in time.
var errAckTimeout = errors.New("link: no PUBACK within the timeout")

// eventPublisher drains the outbox to the broker while connected, until ctx
// ends. Each round publishes a batch QoS 1 in seq order, then acknowledges
// the events to the outbox in the same order as their PUBACKs arrive; the
// first failure ends the round, and the next round starts again from the
// oldest unacknowledged event. The broker thus sees every event at least
// once and first sees them in seq order; the receiver de-duplicates by id.
func (l *Link) eventPublisher(ctx context.Context) {
	var after uint64 // highest seq acknowledged in this process
	for ctx.Err() == nil {
		if !l.conn.waitUp(ctx) {
			return
		}
		batch, err := l.cfg.Outbox.Pending(after, l.cfg.OutboxBatch)
		if err != nil {
			l.log.Error("outbox read failed", "err", err)
			sleep(ctx, l.cfg.MinBackoff)
			continue
		}
		if len(batch) == 0 {
			l.waitForEvents(ctx)
			continue
		}
		acked, err := l.publishBatch(batch)
		if acked > 0 {
			after = batch[acked-1].Seq
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("event publish interrupted; will resend from the oldest unacknowledged", "after_seq", after, "err", err)
			l.waitForChangeOr(ctx, l.cfg.MinBackoff)
		}
	}
}

// publishBatch publishes the batch and acknowledges events in order as the
// broker confirms them. It returns how many were acknowledged.
func (l *Link) publishBatch(batch []protocol.Event) (int, error) {
	toks := make([]paho.Token, len(batch))
	for i := range batch {
		payload, err := json.Marshal(&batch[i])
		if err == nil && tagMessages {
			payload, err = protocol.AppendTag(l.cfg.EventKey, protocol.KindEvent, l.cfg.LockerID, payload)
		}
		if err != nil {
			// Unencodable means a bug upstream; keeping it would block
			// every later event, so it is logged loudly and skipped.
			l.log.Error("outbox event does not encode; dropped", "seq", batch[i].Seq, "err", err)
			toks[i] = nil
			continue
		}
		toks[i] = l.client.Publish(l.eventTopic, 1, false, payload)
	}
	deadline := time.Now().Add(l.cfg.Timeout)
	for i, tok := range toks {
		if tok != nil {
			if !tok.WaitTimeout(time.Until(deadline)) {
				return i, errAckTimeout
			}
			if err := tok.Error(); err != nil {
				return i, fmt.Errorf("link: publish event: %w", err)
			}
			l.stats.events.Add(1)
		}
		if err := l.cfg.Outbox.Ack(batch[i].Seq); err != nil {
			return i, fmt.Errorf("link: outbox ack: %w", err)
		}
	}
	return len(toks), nil
}

// waitForEvents waits for the outbox to wake, the connection to change, the
// poll interval to pass, or ctx to end.
func (l *Link) waitForEvents(ctx context.Context) {
	_, changed := l.conn.get()
	t := time.NewTimer(l.cfg.OutboxInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-l.cfg.Outbox.Wake():
	case <-changed:
	case <-t.C:
	}
}

// waitForChangeOr waits for a connection change or d, whichever is first.
func (l *Link) waitForChangeOr(ctx context.Context, d time.Duration) {
	_, changed := l.conn.get()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-changed:
	case <-t.C:
	}
}
