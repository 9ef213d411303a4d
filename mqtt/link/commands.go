package link

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// onMessage is paho's handler for the command topic. It runs on paho's
// router goroutine, so it only queues: blocking here would stall every
// acknowledgement on the connection.
func (l *Link) onMessage(_ paho.Client, m paho.Message) {
	l.stats.received.Add(1)
	payload := m.Payload()
	if l.queue.push(payload) {
		return
	}
	b := busyRefusal{ref: protocol.CommandRef(payload)}
	if len(payload) <= busyPeekLimit {
		b.id = peekJWSID(payload)
	}
	select {
	case l.busy <- b:
	default:
		l.stats.dropped.Add(1)
		l.log.Warn("command dropped: queue and busy list full", "id", b.id)
	}
}

// busyResponder sends the "busy" refusals. It is separate from the worker
// so that a command stuck in the Handler does not delay them.
func (l *Link) busyResponder(ctx context.Context) {
	for {
		select {
		case b := <-l.busy:
			l.refuse(b.id, b.ref, protocol.ReasonBusy, "command queue full; send again later")
		case <-ctx.Done():
			return
		}
	}
}

// commandWorker processes queued commands one at a time until ctx ends,
// then refuses what is still queued.
func (l *Link) commandWorker(ctx context.Context) {
	for {
		payload, ok := l.queue.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-l.queue.notify:
			}
			continue
		}
		if ctx.Err() != nil {
			l.refuse(peekJWSID(payload), protocol.CommandRef(payload), protocol.ReasonShuttingDown, "the device is stopping; send again later")
			continue
		}
		l.process(ctx, payload)
	}
}

// refuse answers a command that never reached verification. The id is
// unauthenticated and only echoed to help the sender; ref pins the reply to
// the received bytes.
func (l *Link) refuse(id, ref string, reason protocol.Reason, detail string) {
	l.stats.refused.Add(1)
	l.sendReply(protocol.Reply{
		ID: id, Ref: ref, Status: protocol.StatusRefused,
		Reason: reason, Detail: detail, Time: l.cfg.Now().UTC(),
	})
}

// process takes one command through verification, de-duplication and
// execution, and answers it.
func (l *Link) process(ctx context.Context, payload []byte) {
	now := l.cfg.Now()
	cmd, refusal := l.verify.check(payload, now)
	if refusal != nil {
		l.stats.refused.Add(1)
		l.log.Info("command refused", "id", refusal.ID, "reason", refusal.Reason)
		l.sendReply(*refusal)
		return
	}
	ref := protocol.CommandRef(payload)
	base := protocol.Reply{ID: cmd.Jti, Ref: ref, Typ: cmd.Typ}

	prior, err := l.cfg.Commands.Begin(cmd.Jti, cmd.ExpiresAt())
	switch {
	case errors.Is(err, ErrInProgress):
		r := base
		r.Status, r.Reason, r.Time = protocol.StatusUnknown, protocol.ReasonInterrupted, now.UTC()
		r.Detail = "the device stopped while executing this command; it will not be run again"
		if err := l.cfg.Commands.Finish(cmd.Jti, r); err != nil {
			l.log.Error("command log finish failed", "id", cmd.Jti, "err", err)
		}
		l.log.Warn("command found in progress after restart: outcome unknown", "id", cmd.Jti, "type", cmd.Typ)
		l.sendReply(r)
		return
	case err != nil:
		l.stats.refused.Add(1)
		l.log.Error("command log begin failed", "id", cmd.Jti, "err", err)
		r := base
		r.Status, r.Reason, r.Detail, r.Time = protocol.StatusRefused, protocol.ReasonInternal, "command log unavailable", now.UTC()
		l.sendReply(r)
		return
	case prior != nil:
		l.stats.duplicates.Add(1)
		r := *prior
		r.Ref = ref // answer these bytes; the outcome is the stored one
		l.log.Info("duplicate command answered from the log", "id", cmd.Jti, "status", r.Status)
		l.sendReply(r)
		return
	}

	accepted := base
	accepted.Status, accepted.Time = protocol.StatusAccepted, now.UTC()
	l.sendReply(accepted)

	l.stats.executed.Add(1)
	res := l.runHandler(ctx, cmd)
	r := l.replyFrom(base, res)
	if err := l.cfg.Commands.Finish(cmd.Jti, r); err != nil {
		l.log.Error("command log finish failed", "id", cmd.Jti, "err", err)
	}
	l.log.Info("command executed", "id", cmd.Jti, "type", cmd.Typ, "status", r.Status, "reason", r.Reason)
	l.sendReply(r)
}

// runHandler calls the Handler with a deadline and turns a panic into a
// failure. The panic value is not logged: it might hold a code or number.
func (l *Link) runHandler(ctx context.Context, cmd *protocol.Command) (res Result) {
	hctx, cancel := context.WithTimeout(ctx, l.cfg.HandleTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			l.log.Error("command handler panicked", "id", cmd.Jti, "type", cmd.Typ, "panic_type", fmt.Sprintf("%T", p))
			res = Result{Status: protocol.StatusFailed, Reason: protocol.ReasonInternal, Detail: "handler failure"}
		}
	}()
	return l.cfg.Handler.Handle(hctx, cmd)
}

// replyFrom turns a handler Result into a final reply, replacing anything
// that breaks the reply rules by failed/internal rather than sending it.
func (l *Link) replyFrom(base protocol.Reply, res Result) protocol.Reply {
	r := base
	r.Status, r.Reason, r.Detail, r.Time = res.Status, res.Reason, protocol.ShortDetail(res.Detail), l.cfg.Now().UTC()
	internal := func(why string) protocol.Reply {
		l.log.Error("handler result rejected", "id", base.ID, "why", why)
		r := base
		r.Status, r.Reason, r.Detail, r.Time = protocol.StatusFailed, protocol.ReasonInternal, "handler failure", l.cfg.Now().UTC()
		return r
	}
	switch res.Status {
	case protocol.StatusDone, protocol.StatusRefused, protocol.StatusFailed:
	default:
		return internal(fmt.Sprintf("status %q", res.Status))
	}
	if res.Body != nil {
		raw, err := json.Marshal(res.Body)
		if err != nil {
			return internal("body does not encode")
		}
		r.Body = raw
	}
	if err := r.Check(); err != nil {
		return internal(err.Error())
	}
	return r
}

// sendReply publishes a reply without waiting for the broker: replies are
// best effort, because the cloud re-sends a command whose reply it missed
// and the command log answers it again. Waiting here would make every
// command cost a network round trip.
func (l *Link) sendReply(r protocol.Reply) {
	payload, err := protocol.EncodeReply(&r)
	if err != nil {
		l.log.Error("reply does not encode", "id", r.ID, "err", err)
		return
	}
	tok := l.client.Publish(l.replyTopic, 1, false, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			l.log.Debug("reply not sent", "id", r.ID, "status", r.Status, "err", err)
		}
	default:
	}
}
