package cloudlink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/clock"
	"github.com/lockerd/lockerd/locker/store"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Commands for one entity (a parcel, a courier, a compartment's enabled state) take
// effect in the order the cloud issued them, whatever order they arrive in: the
// command's iat is the entity's revision, and a command issued before the one in force
// is refused stale with the current revision, changing nothing
// (docs/adr/0055-command-ordering-and-jti-reuse.md). Commands may live 7 days
// (protocol.MaxLifetime), so a delayed one is not rare.

// issuedFloor is the newest command issue time the link has executed, in memory
// (the command log keeps it durably: store.CommandTx.NoteIssued).
type issuedFloor struct{ unix atomic.Int64 }

// raise makes t the floor if it is later.
func (f *issuedFloor) raise(t time.Time) {
	if t.IsZero() {
		return
	}
	for u := t.Unix(); ; {
		cur := f.unix.Load()
		if cur >= u || f.unix.CompareAndSwap(cur, u) {
			return
		}
	}
}

// confirmTime hands a verified command's iat to the station's clock trust
// (docs/adr/0058-time-without-a-clock-chip.md): the cloud's signed clock confirms a
// wall clock that agrees with it.
func (h *commandHandler) confirmTime(cmd *protocol.Command) {
	if cmd.Typ == protocol.CmdTime {
		return // setTime: its iat must be newer than the floor this would raise
	}
	if err := h.st.ConfirmTime(cmd.IssuedAt(), false); err != nil && !errors.Is(err, locker.ErrClosed) {
		h.log.Warn("clock: command iat not taken", "id", cmd.Jti, "err", err)
	}
}

// setTime runs a time command: it goes through the link's Begin like a command with
// an effect, so its jti is recorded (and a reused one refused conflict) before it runs.
// Not newer than the station's last trusted time, it is refused stale and changes
// nothing (docs/adr/0058-time-without-a-clock-chip.md).
func (h *commandHandler) setTime(cmd *protocol.Command) link.Result {
	switch err := h.st.ConfirmTime(cmd.IssuedAt(), true); {
	case errors.Is(err, clock.ErrStale):
		h.log.Info("time command not newer than the last trusted time: refused", "id", cmd.Jti)
		return link.Refused(protocol.ReasonStale, "not newer than the locker's last trusted time")
	case err != nil:
		return outcome(err)
	}
	st := h.st.TimeState()
	return link.Done(&protocol.TimeResult{Wall: st.Now.Add(st.Offset).UTC(), Source: string(st.Source)})
}

// after returns now, or the floor when now is earlier.
func (f *issuedFloor) after(now time.Time) time.Time {
	if u := f.unix.Load(); u != 0 && now.Unix() < u {
		return time.Unix(u, 0)
	}
	return now
}

// entityOf names the entity an ordered command changes, as the store's revision key,
// or reports that cmd is not ordered (queries, opening a door, resolving, the policy,
// which has its own version). A courier is named by its keyed digest (subject): its id
// names a person, which no record outside the audit log's pseudonyms may do (ADR 0065).
func entityOf(cmd *protocol.Command, subject func(string) string) (string, bool) {
	switch b := cmd.Parsed.(type) {
	case *protocol.SetVerifierBody:
		return parcelKey(b.Parcel), true
	case *protocol.CancelBody:
		return parcelKey(b.Parcel), true
	case *protocol.RecallBody:
		return parcelKey(b.Parcel), true
	case *protocol.CourierUpsertBody:
		return "c/" + subject(b.Courier), true
	case *protocol.CourierRevokeBody:
		return "c/" + subject(b.Courier), true
	case *protocol.DisableCompartmentBody:
		return compartmentKey(b.Compartment), true
	case *protocol.EnableCompartmentBody:
		return compartmentKey(b.Compartment), true
	}
	return "", false
}

func parcelKey(id string) string        { return "p/" + id }
func compartmentKey(c uint16) string    { return "k/" + strconv.Itoa(int(c)) }
func revisionUntil(rev int64) time.Time { return time.Unix(rev, 0).Add(protocol.MaxLifetime) }

// A revision is kept until every command older than it has expired: such a command's
// exp is at most its iat plus protocol.MaxLifetime, which is before the revision plus
// MaxLifetime. After that an older command is refused "expired" anyway, and a revoked
// courier's revision (its tombstone) may go.

// staleError refuses a command older than the one in force for its entity.
type staleError struct{ current int64 }

func (e *staleError) Error() string {
	return fmt.Sprintf("cloudlink: a newer command is in force (revision %d)", e.current)
}

func staleResult(current int64) link.Result {
	return link.Refused(protocol.ReasonStale, fmt.Sprintf("a newer command for this entity is in force: revision %d", current))
}

// checkRevision returns a *staleError when the entity key has a revision newer than rev.
func checkRevision(log store.CommandReader, key string, rev int64) error {
	cur, ok, err := log.Revision(key)
	switch {
	case err != nil:
		return err
	case ok && rev < cur:
		return &staleError{current: cur}
	}
	return nil
}

// Handle implements link.Handler. An ordered command older than its entity's revision
// is refused stale without running; one that ran (done, or failed: something was
// attempted) makes its iat the entity's revision. A refusal changed nothing and leaves
// the revision alone, so that, say, a set-verifier refused not_found does not make the
// parcel's later-delivered announce stale.
func (h *commandHandler) Handle(ctx context.Context, cmd *protocol.Command) link.Result {
	h.floor.raise(cmd.IssuedAt())
	h.confirmTime(cmd)
	key, ordered := entityOf(cmd, h.st.SubjectKey)
	if !ordered {
		return h.handle(ctx, cmd)
	}
	err := h.st.ViewCommands(func(log store.CommandReader) error { return checkRevision(log, key, cmd.Iat) })
	if st, ok := err.(*staleError); ok {
		h.log.Info("command older than the one in force: refused", "id", cmd.Jti, "type", cmd.Typ, "revision", st.current)
		return staleResult(st.current)
	} else if err != nil {
		h.log.Error("revision read failed", "id", cmd.Jti, "err", err)
		return link.Result{Status: protocol.StatusRefused, Reason: protocol.ReasonInternal, Detail: "command log unavailable"}
	}
	res := h.handle(ctx, cmd)
	if res.Status == protocol.StatusRefused {
		return res
	}
	// One more commit after the effect's. A crash between the two leaves the command
	// "in progress" (answered unknown/interrupted) and the older revision in force:
	// the cloud re-issues such a command with a new jti and a newer iat.
	if err := h.st.Atomically(func(tx *locker.Tx) error {
		return tx.Commands().PutRevision(key, cmd.Iat, revisionUntil(cmd.Iat))
	}); err != nil {
		h.log.Error("revision write failed", "id", cmd.Jti, "err", err)
	}
	return res
}
