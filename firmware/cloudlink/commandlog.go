package cloudlink

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/store"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// The command log remembers every cloud command id until its expiry, so that a
// duplicate delivery is answered with the stored reply and never executed twice, and a
// command found in progress after a crash is reported as "outcome unknown"
// (docs/adr/0022-command-dedup-and-outcome-unknown.md). The adapter keeps it; the
// station's store holds it, and each write to it is one station transition
// (locker.Station.Atomically, docs/adr/0045-command-log-in-the-adapter.md).

// commandLog is the link's CommandLog over the station's store.
type commandLog struct{ st *locker.Station }

var _ link.CommandLog = commandLog{}

// Begin implements link.CommandLog: one durable write for a new id, which records it as
// in progress; for a known one it records nothing and returns the stored reply, or
// link.ErrInProgress. The link calls BeginDigest instead; Begin keeps no digest.
func (c commandLog) Begin(id string, exp time.Time) (*protocol.Reply, error) {
	return c.BeginDigest(id, time.Time{}, exp, nil)
}

var _ link.DigestLog = commandLog{}

// BeginDigest implements link.DigestLog: Begin, storing digest (when not nil) beside a
// new id in the same write, and refusing a known id stored with another digest
// (link.ErrConflict, nothing written). An id stored without a digest, by a build
// before digests (docs/adr/0055-command-ordering-and-jti-reuse.md), is answered as
// before: its stored reply, whatever the body.
// A non-zero iat raises the log's newest issue time in the same write (NoteIssued).
func (c commandLog) BeginDigest(id string, iat, exp time.Time, digest []byte) (*protocol.Reply, error) {
	if err := store.CheckCommandID(id); err != nil {
		return nil, err
	}
	var prior []byte
	var known bool
	err := c.st.Atomically(func(tx *locker.Tx) error {
		log := tx.Commands()
		var err error
		if prior, _, known, err = log.Command(id); err != nil {
			return err
		} else if known {
			return checkDigest(log, id, digest)
		}
		if err := log.BeginCommand(id, exp); err != nil {
			return err
		}
		if !iat.IsZero() {
			if err := log.NoteIssued(iat); err != nil {
				return err
			}
		}
		if digest == nil {
			return nil
		}
		return log.PutCommandDigest(id, digest)
	})
	switch {
	case errors.Is(err, link.ErrConflict):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("cloudlink: command log: %w", err)
	case !known:
		return nil, nil
	case prior == nil:
		return nil, link.ErrInProgress
	}
	return storedReply(prior)
}

// Finish implements link.CommandLog: one durable write. An empty reply is refused
// (store.ErrEmptyReply): it would read back as "in progress", the outcome unknown.
func (c commandLog) Finish(id string, reply protocol.Reply) error {
	raw, err := protocol.EncodeReply(&reply)
	if err != nil {
		return err
	}
	return c.st.Atomically(func(tx *locker.Tx) error { return tx.Commands().FinishCommand(id, raw) })
}

var _ link.CommandStore = commandLog{}

// Stored implements link.CommandStore; it writes nothing.
func (c commandLog) Stored(id string) (*protocol.Reply, bool, error) {
	return c.StoredDigest(id, nil)
}

// StoredDigest implements link.DigestLog; it writes nothing.
func (c commandLog) StoredDigest(id string, digest []byte) (*protocol.Reply, bool, error) {
	var raw []byte
	var known bool
	err := c.st.ViewCommands(func(log store.CommandReader) error {
		var err error
		if raw, _, known, err = log.Command(id); err != nil || !known {
			return err
		}
		return checkDigest(log, id, digest)
	})
	if err != nil || !known || raw == nil {
		return nil, known, err
	}
	r, err := storedReply(raw)
	return r, true, err
}

// checkDigest returns link.ErrConflict when known id is stored with a digest other
// than digest. No digest given, or none stored (a record of an older build), passes.
func checkDigest(log store.CommandReader, id string, digest []byte) error {
	if digest == nil {
		return nil
	}
	stored, err := log.CommandDigest(id)
	if err != nil || stored == nil || bytes.Equal(stored, digest) {
		return err
	}
	return link.ErrConflict
}

func storedReply(raw []byte) (*protocol.Reply, error) {
	r, err := protocol.DecodeReply(raw)
	if err != nil {
		return nil, fmt.Errorf("cloudlink: stored reply: %w", err)
	}
	return r, nil
}

// A command with no physical effect needs no durable record before it acts: applied and
// recorded with its final reply in one transition, it is durable together with its
// effect, or, if the station stops before the commit, it never happened and a
// redelivery runs it afresh. That is one durable write instead of three (Begin, the
// transition, Finish), and a run of such commands can share one (group commit,
// docs/adr/0027-one-write-per-command.md).

// commandEntry is one command of a one-transition run.
type commandEntry struct {
	id     string
	exp    time.Time
	digest []byte                              // the body digest stored beside id; nil: none
	iat    time.Time                           // the command's issue time (NoteIssued); zero: not noted
	apply  func(tx *locker.Tx) ([]byte, error) // the effect; returns the reply to store
}

// errCommandKnown is the outcome of a command of a run whose id is already in the log.
var errCommandKnown = errors.New("cloudlink: command already recorded")

// commandOutcome is what became of one command of a run: err is nil (applied, and
// recorded with the reply it made), errCommandKnown (nothing applied; stored is the
// stored reply), link.ErrInProgress or link.ErrConflict (nothing applied).
type commandOutcome struct {
	stored []byte
	err    error
}

// commandRun applies the entries in order and records each, in one transition of st.
// An error from an apply fails the whole run: nothing of it is durable.
func commandRun(st *locker.Station, entries []commandEntry) ([]commandOutcome, error) {
	for _, e := range entries {
		if err := store.CheckCommandID(e.id); err != nil {
			return nil, err
		}
	}
	out := make([]commandOutcome, len(entries))
	err := st.Atomically(func(tx *locker.Tx) error {
		log := tx.Commands()
		for i, e := range entries {
			if reply, done, known, err := log.Command(e.id); known || err != nil {
				if err == nil {
					err = checkDigest(log, e.id, e.digest)
				}
				switch {
				case errors.Is(err, link.ErrConflict):
					out[i].err = err
				case err != nil:
					return err
				case !done:
					out[i].err = link.ErrInProgress
				default:
					out[i] = commandOutcome{stored: reply, err: errCommandKnown}
				}
				continue
			}
			reply, err := e.apply(tx)
			if err != nil {
				return err
			}
			if err := log.PutCommand(e.id, e.exp, reply); err != nil {
				return err
			}
			if e.digest != nil {
				if err := log.PutCommandDigest(e.id, e.digest); err != nil {
					return err
				}
			}
			if !e.iat.IsZero() {
				if err := log.NoteIssued(e.iat); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cloudlink: command log: %w", err)
	}
	return out, nil
}

// commandRecord records command id as done with its final reply, in one durable
// write, for a command whose execution changed nothing durable (inventory, status,
// audit range, ping): one write instead of Begin and Finish.
func commandRecord(st *locker.Station, id string, iat, exp time.Time, digest, reply []byte) commandOutcome {
	out, err := commandRun(st, []commandEntry{{id: id, iat: iat, exp: exp, digest: digest, apply: func(*locker.Tx) ([]byte, error) { return reply, nil }}})
	if err != nil {
		return commandOutcome{err: err}
	}
	return out[0]
}
