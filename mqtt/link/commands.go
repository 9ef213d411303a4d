package link

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// onMessage is paho's handler for the command topic. It runs on paho's
// router goroutine, so it only queues: blocking here would stall every
// acknowledgement on the connection.
func (l *Link) onMessage(_ paho.Client, m paho.Message) {
	l.stats.received.Add(1)
	payload := m.Payload()
	stopping := l.stopping.Load()
	if !stopping && l.queue.push(payload) {
		return
	}
	b := busyRefusal{ref: protocol.CommandRef(payload), stopping: stopping || l.queue.isClosed()}
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
// so that a command stuck in the Handler does not delay them. It sends what is
// left when ctx ends.
func (l *Link) busyResponder(ctx context.Context) {
	for {
		select {
		case b := <-l.busy:
			l.refuseBusy(b)
		case <-ctx.Done():
			l.drainBusy()
			return
		}
	}
}

// drainBusy sends the refusals waiting in l.busy without waiting for more.
func (l *Link) drainBusy() {
	for {
		select {
		case b := <-l.busy:
			l.refuseBusy(b)
		default:
			return
		}
	}
}

func (l *Link) refuseBusy(b busyRefusal) {
	if b.stopping {
		l.refuse(b.id, b.ref, protocol.ReasonShuttingDown, stoppingDetail)
		return
	}
	l.refuse(b.id, b.ref, protocol.ReasonBusy, "command queue full; send again later")
}

// verifyBatch is how many queued commands are popped and verified together.
const verifyBatch = 64

// verifiedBatch is a batch of payloads popped together and, unless the link was
// stopping when they were popped (checks nil), their verification in the same order.
type verifiedBatch struct {
	payloads [][]byte
	checks   []checked
}

// commandVerifier pops queued commands in batches, verifies each batch (in parallel)
// and hands the batches to commandWorker in arrival order. The two run side by side,
// so the next commands' signatures are checked while the previous ones are applied
// and committed. It closes out when ctx has ended and the queue is empty.
func (l *Link) commandVerifier(ctx context.Context, out chan<- verifiedBatch) {
	defer close(out)
	for {
		payloads := l.queue.popN(verifyBatch)
		if len(payloads) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-l.queue.notify:
			}
			continue
		}
		b := verifiedBatch{payloads: payloads}
		if ctx.Err() == nil {
			l.verifying.Store(true)
			b.checks = l.verifyAll(payloads)
		}
		// Cleared before the hand-over, never after: the worker may take the batch
		// and ask moreComing at once, and a flag still set then would have it wait
		// for a batch that is not coming (a lone command stalled until re-sent).
		l.verifying.Store(false)
		out <- b // commandWorker reads until out is closed
	}
}

// commandWorker executes verified commands one at a time, in arrival order, until
// commandVerifier closes in. Runs of consecutive commands an AtomicHandler takes are
// executed together when no verified batch is waiting, a command of another kind
// arrives or the run is full, so that a burst of announcements costs one durable
// write. Commands popped after ctx ended are refused "shutting_down".
func (l *Link) commandWorker(ctx context.Context, in <-chan verifiedBatch) {
	atomic, _ := l.cfg.Handler.(AtomicHandler)
	var run []pending
	for {
		var b verifiedBatch
		var ok bool
		select {
		case b, ok = <-in:
		default:
			// Nothing verified is waiting. While more commands are queued or being
			// verified, the run waits for them (one commit for more commands: fewer
			// index pages written per command in a burst, ADR 0031); otherwise it is
			// executed now, so that a lone command is not delayed.
			if len(run) == 0 || !l.moreComing() {
				l.runAtomic(ctx, atomic, &run)
			}
			b, ok = <-in
		}
		if !ok {
			l.runAtomic(ctx, atomic, &run)
			return
		}
		if b.checks == nil || ctx.Err() != nil {
			l.runAtomic(ctx, atomic, &run) // refuses the collected run: the link is stopping
			for _, payload := range b.payloads {
				l.refuse(peekJWSID(payload), protocol.CommandRef(payload), protocol.ReasonShuttingDown, stoppingDetail)
				l.queue.done(payload)
			}
			continue
		}
		for i, v := range b.checks {
			cmd := v.cmd
			switch {
			case cmd == nil:
				l.stats.refused.Add(1)
				l.log.Info("command refused", "id", v.refusal.ID, "reason", v.refusal.Reason)
				l.sendReply(*v.refusal)
			case atomic != nil && atomic.Atomic(cmd):
				// Its room in the queue is released once it is answered (runAtomic).
				run = append(run, pending{cmd: cmd, ref: v.ref, at: v.at, payload: b.payloads[i]})
				if len(run) == maxAtomicRun {
					l.runAtomic(ctx, atomic, &run)
				}
				continue
			default:
				l.runAtomic(ctx, atomic, &run)
				if !l.stale(ctx, cmd, v.ref, l.immediate()) {
					l.execute(ctx, cmd, v.ref)
				}
			}
			l.queue.done(b.payloads[i])
		}
	}
}

// moreComing reports whether commands are queued or being verified: the worker's next
// batch is on its way.
func (l *Link) moreComing() bool { return l.verifying.Load() || l.queue.len() > 0 }

const stoppingDetail = "the device is stopping; send again later"

// stale refuses a verified command that must not run any more, because the link is
// stopping (its handlers' contexts are done: a door would not open) or because the
// command expired while it waited behind others (the cloud may have sent a new one),
// and reports whether it did.
func (l *Link) stale(ctx context.Context, cmd *protocol.Command, ref string, out *replyBatch) bool {
	reason, detail := protocol.Reason(""), ""
	switch {
	case ctx.Err() != nil:
		reason, detail = protocol.ReasonShuttingDown, stoppingDetail
	case !l.cfg.Now().Before(cmd.ExpiresAt()) && !protocol.ClockExempt(cmd.Typ):
		// A re-send of a command that already ran (its reply was lost) is answered with
		// what happened, not "expired", which would say it never ran.
		if prior, known, err := l.stored(cmd); errors.Is(err, ErrConflict) {
			out.add(l.conflict(protocol.Reply{ID: cmd.Jti, Ref: ref, Typ: cmd.Typ}), nil)
			return true
		} else if err == nil && known {
			if prior != nil {
				out.add(l.duplicate(*prior, ref), nil)
			} else {
				out.add(l.interrupted(protocol.Reply{ID: cmd.Jti, Ref: ref, Typ: cmd.Typ}, l.cfg.Now()), nil)
			}
			return true
		}
		reason, detail = protocol.ReasonExpired, "exp passed while the command waited to run"
	default:
		return false
	}
	l.stats.refused.Add(1)
	l.log.Info("command refused", "id", cmd.Jti, "reason", reason)
	out.add(protocol.Reply{ID: cmd.Jti, Ref: ref, Typ: cmd.Typ, Status: protocol.StatusRefused,
		Reason: reason, Detail: detail, Time: l.cfg.Now().UTC()}, nil)
	return true
}

// checked is the verification of one payload: a command or a refusal.
type checked struct {
	cmd     *protocol.Command
	refusal *protocol.Reply
	ref     string
	at      time.Time
}

// verifyAll verifies payloads, in parallel when there are several (a signature check
// is the most expensive step of a small command), and returns the results in order.
func (l *Link) verifyAll(payloads [][]byte) []checked {
	out := make([]checked, len(payloads))
	one := func(i int) {
		now := l.cfg.Now()
		cmd, refusal := l.verify.check(payloads[i], now)
		out[i] = checked{cmd: cmd, refusal: refusal, at: now}
		if cmd != nil {
			out[i].ref = protocol.CommandRef(payloads[i])
		}
	}
	workers := min(len(payloads), runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range payloads {
			one(i)
		}
		return out
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() { // joined below: the worker owns these
			defer wg.Done()
			for i := w; i < len(payloads); i += workers {
				one(i)
			}
		}()
	}
	wg.Wait()
	return out
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

// execute records a verified command's id durably, executes it and answers it.
func (l *Link) execute(ctx context.Context, cmd *protocol.Command, ref string) {
	now := l.cfg.Now()
	base := protocol.Reply{ID: cmd.Jti, Ref: ref, Typ: cmd.Typ}

	var prior *protocol.Reply
	var err error
	if dl, ok := l.cfg.Commands.(DigestLog); ok {
		prior, err = dl.BeginDigest(cmd.Jti, cmd.IssuedAt(), cmd.ExpiresAt(), cmd.BodyDigest())
	} else {
		prior, err = l.cfg.Commands.Begin(cmd.Jti, cmd.ExpiresAt())
	}
	switch {
	case errors.Is(err, ErrConflict):
		l.sendReply(l.conflict(base))
		return
	case errors.Is(err, ErrInProgress):
		l.sendReply(l.interrupted(base, now))
		return
	case err != nil:
		l.stats.refused.Add(1)
		l.log.Error("command log begin failed", "id", cmd.Jti, "err", err)
		r := base
		r.Status, r.Reason, r.Detail, r.Time = protocol.StatusRefused, protocol.ReasonInternal, "command log unavailable", now.UTC()
		l.sendReply(r)
		return
	case prior != nil:
		l.log.Info("duplicate command answered from the log", "id", cmd.Jti, "status", prior.Status)
		l.sendReply(l.duplicate(*prior, ref))
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

// interrupted makes the answer to a command found in progress after a restart,
// "outcome unknown", and stores it; the command is never run.
func (l *Link) interrupted(base protocol.Reply, now time.Time) protocol.Reply {
	r := base
	r.Status, r.Reason, r.Time = protocol.StatusUnknown, protocol.ReasonInterrupted, now.UTC()
	r.Detail = "the device stopped while executing this command; it will not be run again"
	if err := l.cfg.Commands.Finish(r.ID, r); err != nil {
		l.log.Error("command log finish failed", "id", r.ID, "err", err)
	}
	l.log.Warn("command found in progress after restart: outcome unknown", "id", r.ID, "type", r.Typ)
	return r
}

// stored reads the log's record of cmd without writing: its stored reply (known, reply
// not nil), in progress (known, nil), unknown, or ErrConflict when its id was recorded
// for another command.
func (l *Link) stored(cmd *protocol.Command) (*protocol.Reply, bool, error) {
	if dl, ok := l.cfg.Commands.(DigestLog); ok {
		return dl.StoredDigest(cmd.Jti, cmd.BodyDigest())
	}
	if cs, ok := l.cfg.Commands.(CommandStore); ok {
		return cs.Stored(cmd.Jti)
	}
	return nil, false, nil
}

// conflict makes the answer to a command whose id the log holds for another command:
// refused, nothing run, nothing recorded (the id keeps its first command's reply).
func (l *Link) conflict(base protocol.Reply) protocol.Reply {
	l.stats.refused.Add(1)
	l.log.Warn("command id reused for another command: refused", "id", base.ID, "type", base.Typ)
	r := base
	r.Status, r.Reason, r.Time = protocol.StatusRefused, protocol.ReasonConflict, l.cfg.Now().UTC()
	r.Detail = "this command id was already used for another command"
	return r
}

// duplicate makes the answer to a known command: its stored final reply.
func (l *Link) duplicate(prior protocol.Reply, ref string) protocol.Reply {
	l.stats.duplicates.Add(1)
	r := prior
	r.Ref = ref // answer these bytes; the outcome is the stored one
	l.log.Debug("duplicate command answered from the log", "id", r.ID, "status", r.Status)
	return r
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
