package cloudlink

import (
	"context"
	"errors"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Announcements and queries move nothing physical: the link hands them to
// HandleAtomic, which applies and records them with their replies in one durable
// transaction (docs/adr/0027-one-write-per-command.md).

var _ link.AtomicHandler = (*commandHandler)(nil)

// Atomic implements link.AtomicHandler.
func (h *commandHandler) Atomic(cmd *protocol.Command) bool {
	switch cmd.Parsed.(type) {
	case *protocol.AnnounceBody, *protocol.InventoryBody, *protocol.StatusBody, *protocol.AuditRangeBody, *protocol.PingBody:
		return true
	}
	return false
}

// HandleAtomic implements link.AtomicHandler. Consecutive announcements share one
// transaction; a query is answered and recorded after everything before it.
func (h *commandHandler) HandleAtomic(ctx context.Context, cmds []*protocol.Command, finish func(int, link.Result) protocol.Reply) []link.Outcome {
	out := make([]link.Outcome, len(cmds))
	for _, cmd := range cmds {
		h.floor.raise(cmd.IssuedAt())
		h.confirmTime(cmd)
	}
	for i := 0; i < len(cmds); {
		j := i
		for j < len(cmds) && isAnnounce(cmds[j]) {
			j++
		}
		if j > i {
			guard(out[i:j], func() {
				h.announceRun(ctx, cmds[i:j], func(k int, res link.Result) protocol.Reply { return finish(i+k, res) }, out[i:j])
			})
			i = j
			continue
		}
		guard(out[i:i+1], func() {
			out[i] = h.queryRecorded(cmds[i], func(res link.Result) protocol.Reply { return finish(i, res) })
		})
		i++
	}
	return out
}

// errPanicked is the outcome of commands whose transaction a panic interrupted.
var errPanicked = errors.New("cloudlink: command handler failure")

// guard runs one transaction's worth of commands and turns a panic into failures of
// those commands only: runs committed before it keep their outcomes (a panic inside a
// bbolt transaction rolls it back, so its own commands were not recorded). The panic
// value is not logged: it might hold a code or a number.
func guard(out []link.Outcome, f func()) {
	defer func() {
		if recover() != nil {
			for k := range out {
				out[k] = link.Outcome{Err: errPanicked}
			}
		}
	}()
	f()
}

// announceOrdered announces, in tx, the parcels of batch whose revision is not newer
// than rev (the announce's iat), refuses the others with a *staleError, and makes rev
// the revision of each parcel the station took (ordering.go).
func announceOrdered(tx *locker.Tx, batch []locker.Announcement, rev int64) ([]error, error) {
	log := tx.Commands()
	results := make([]error, len(batch))
	var fresh []locker.Announcement
	var at []int
	for i, a := range batch {
		err := checkRevision(log, parcelKey(string(a.ID)), rev)
		if _, stale := err.(*staleError); stale {
			results[i] = err
			continue
		} else if err != nil {
			return nil, err
		}
		fresh = append(fresh, a)
		at = append(at, i)
	}
	if len(fresh) == 0 {
		return results, nil
	}
	res, err := tx.Announce(fresh)
	if err != nil {
		return nil, err
	}
	for k, i := range at {
		results[i] = res[k]
		if res[k] != nil {
			continue
		}
		if err := log.PutRevision(parcelKey(string(fresh[k].ID)), rev, revisionUntil(rev)); err != nil {
			return nil, err
		}
	}
	return results, nil
}

func isAnnounce(cmd *protocol.Command) bool {
	_, ok := cmd.Parsed.(*protocol.AnnounceBody)
	return ok
}

func (h *commandHandler) announceRun(ctx context.Context, cmds []*protocol.Command, finish func(int, link.Result) protocol.Reply, out []link.Outcome) {
	replies := make([]protocol.Reply, len(cmds))
	encoded := make([][]byte, len(cmds))
	entries := make([]commandEntry, len(cmds))
	for k, cmd := range cmds {
		b := cmd.Parsed.(*protocol.AnnounceBody)
		batch := announcements(b)
		entries[k] = commandEntry{id: cmd.Jti, iat: cmd.IssuedAt(), exp: cmd.ExpiresAt(), digest: cmd.BodyDigest(), apply: func(tx *locker.Tx) ([]byte, error) {
			results, err := announceOrdered(tx, batch, cmd.Iat)
			if err != nil {
				return nil, err
			}
			replies[k] = finish(k, announceResult(b, results))
			raw, err := protocol.EncodeReply(&replies[k])
			encoded[k] = raw
			return raw, err
		}}
	}
	res, err := commandRun(h.st, entries)
	for k := range out {
		if err != nil {
			out[k].Err = err
			continue
		}
		out[k] = outcomeOf(res[k], replies[k])
		if res[k].err == nil {
			out[k].Encoded = encoded[k]
		}
	}
}

// queryRecorded answers a query and records it with its reply.
func (h *commandHandler) queryRecorded(cmd *protocol.Command, finish func(link.Result) protocol.Reply) link.Outcome {
	r := finish(h.query(cmd))
	raw, err := protocol.EncodeReply(&r)
	if err != nil {
		return link.Outcome{Err: err}
	}
	res := commandRecord(h.st, cmd.Jti, cmd.IssuedAt(), cmd.ExpiresAt(), cmd.BodyDigest(), raw)
	o := outcomeOf(res, r)
	if res.err == nil {
		o.Encoded = raw
	}
	return o
}

// outcomeOf turns a command's outcome into the link's.
func outcomeOf(o commandOutcome, reply protocol.Reply) link.Outcome {
	switch {
	case o.err == nil:
		return link.Outcome{Reply: reply}
	case errors.Is(o.err, link.ErrInProgress):
		return link.Outcome{Known: true, Err: link.ErrInProgress}
	case errors.Is(o.err, link.ErrConflict):
		return link.Outcome{Known: true, Err: link.ErrConflict}
	case errors.Is(o.err, errCommandKnown):
		r, err := storedReply(o.stored)
		if err != nil {
			return link.Outcome{Err: err}
		}
		return link.Outcome{Reply: *r, Known: true}
	}
	return link.Outcome{Err: o.err}
}
