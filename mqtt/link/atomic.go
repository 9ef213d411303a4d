package link

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Commands the handler declares atomic (AtomicHandler) are run together: consecutive
// ones are collected by commandWorker and applied in one HandleAtomic call, with their
// replies, in one durable write (docs/adr/0027-one-write-per-command.md).

// maxAtomicRun bounds the commands one HandleAtomic call gets: enough that a burst
// of announcements dirties each index page once per commit rather than once per few
// commands, few enough that the first command of a run is answered within tens of
// milliseconds.
const maxAtomicRun = 512

// pending is a verified command waiting in an atomic run.
type pending struct {
	payload []byte // as received, counted in the queue's bounds until answered
	cmd     *protocol.Command
	ref     string
	at      time.Time
}

// runAtomic executes the collected run and answers its commands, together: the
// replies of a run leave in as few messages as the protocol allows (ADR 0031).
func (l *Link) runAtomic(ctx context.Context, h AtomicHandler, run *[]pending) {
	out := l.batch()
	defer out.flush() // the stale refusals when nothing else is left to run
	live := (*run)[:0]
	for _, p := range *run {
		if l.stale(ctx, p.cmd, p.ref, out) {
			l.queue.done(p.payload)
		} else {
			live = append(live, p)
		}
	}
	clear((*run)[len(live):])
	*run = live
	if len(*run) == 0 {
		return
	}
	cmds := make([]*protocol.Command, len(*run))
	for i, p := range *run {
		cmds[i] = p.cmd
	}
	base := func(i int) protocol.Reply {
		p := (*run)[i]
		return protocol.Reply{ID: p.cmd.Jti, Ref: p.ref, Typ: p.cmd.Typ}
	}
	finish := func(i int, res Result) protocol.Reply { return l.replyFrom(base(i), res) }
	l.stats.executed.Add(uint64(len(cmds)))
	outs := l.callAtomic(ctx, h, cmds, finish)
	// One log line per run, not per command: a fleet pushing thousands of
	// announcements would otherwise write thousands of lines to the device's
	// flash. Each command's outcome is in its reply and in the command log.
	statuses := map[protocol.Status]int{}
	var duplicates, failed int
	var failure error
	var firstFailed string
	for i, p := range *run {
		var o Outcome
		if i < len(outs) {
			o = outs[i]
		} else {
			o.Err = errors.New("link: atomic handler returned too few outcomes")
		}
		switch {
		case errors.Is(o.Err, ErrInProgress):
			out.add(l.interrupted(base(i), p.at), nil)
		case errors.Is(o.Err, ErrConflict):
			out.add(l.conflict(base(i)), nil)
		case o.Err != nil:
			l.stats.refused.Add(1)
			failed++
			if failure == nil {
				failure, firstFailed = o.Err, p.cmd.Jti
			}
			r := base(i)
			r.Status, r.Reason, r.Detail, r.Time = protocol.StatusRefused, protocol.ReasonInternal, "command log unavailable", l.cfg.Now().UTC()
			out.add(r, nil)
		case o.Known:
			duplicates++
			out.add(l.duplicate(o.Reply, p.ref), nil)
		default:
			statuses[o.Reply.Status]++
			l.log.Debug("command executed", "id", o.Reply.ID, "type", o.Reply.Typ, "status", o.Reply.Status, "reason", o.Reply.Reason)
			out.add(o.Reply, o.Encoded)
		}
	}
	n := len(*run)
	switch {
	case n == 1 && len(statuses) == 1:
		o := outs[0].Reply
		l.log.Info("command executed", "id", o.ID, "type", o.Typ, "status", o.Status, "reason", o.Reason)
	case n == 1 && duplicates == 1:
		l.log.Info("duplicate command answered from the log", "id", (*run)[0].cmd.Jti)
	case n > 1 && (len(statuses) > 0 || duplicates > 0):
		l.log.Info("commands executed together", "commands", n, "first", (*run)[0].cmd.Jti, "last", (*run)[n-1].cmd.Jti,
			"done", statuses[protocol.StatusDone], "refused", statuses[protocol.StatusRefused], "failed", statuses[protocol.StatusFailed],
			"duplicates", duplicates)
	}
	if failed > 0 {
		l.log.Error("atomic commands not executed", "commands", failed, "first", firstFailed, "err", failure)
	}
	out.flush() // answered first, then their room in the queue is released
	for _, p := range *run {
		l.queue.done(p.payload)
	}
	clear(*run)
	*run = (*run)[:0]
}

// callAtomic calls HandleAtomic with a deadline and turns a panic into failures.
func (l *Link) callAtomic(ctx context.Context, h AtomicHandler, cmds []*protocol.Command, finish func(int, Result) protocol.Reply) (outs []Outcome) {
	hctx, cancel := context.WithTimeout(ctx, l.cfg.HandleTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			l.log.Error("atomic command handler panicked", "commands", len(cmds), "panic_type", fmt.Sprintf("%T", p))
			// Every command is answered internal. That is right only if none was
			// recorded: a handler that commits in several transactions must recover
			// per transaction itself (lockerd's does) and report each outcome.
			outs = nil
		}
	}()
	return h.HandleAtomic(hctx, cmds, finish)
}
