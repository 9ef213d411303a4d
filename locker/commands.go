package locker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lockerd/lockerd/locker/store"
)

// The command log (locker/store) remembers every cloud command id until its expiry,
// so that a duplicate delivery is answered with the stored reply and never executed
// twice, and a command found in progress after a crash is reported as "outcome
// unknown" (docs/adr/0022-command-dedup-and-outcome-unknown.md).

// ErrCommandInProgress is returned by CommandBegin for an id that was begun and never
// finished: the station may have acted on it before a crash.
var ErrCommandInProgress = store.ErrCommandInProgress

// CommandBegin durably records command id as in progress until exp. It returns
// (nil, nil) for a new id; for a known one it records nothing and returns the stored
// reply, or ErrCommandInProgress.
func (s *Station) CommandBegin(id string, exp time.Time) ([]byte, error) {
	if err := store.CheckCommandID(id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.store.CommandBegin(id, exp)
}

// CommandFinish stores the final reply of a begun command.
func (s *Station) CommandFinish(id string, reply []byte) error {
	if len(reply) == 0 {
		return store.ErrEmptyReply // it would read back as "in progress": outcome unknown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.store.CommandFinish(id, reply)
}

// CommandStored returns the stored reply of command id without recording anything:
// (reply, true) when it finished, (nil, true) when it is in progress, (nil, false)
// when it is unknown (or forgotten after its expiry).
func (s *Station) CommandStored(id string) ([]byte, bool, error) { return s.store.CommandStored(id) }

// ErrCommandKnown is returned by the one-transaction command methods (CommandRecord,
// CommandAnnounce) for an id that is already in the log; the stored reply comes with it.
var ErrCommandKnown = errors.New("locker: command already recorded")

// A command with no physical effect needs no durable record before it acts: applied and
// recorded with its final reply in one transaction, it is durable together with its
// effect, or, if the station stops before the commit, it never happened and a
// redelivery runs it afresh. That is one durable write instead of three
// (CommandBegin, the transition, CommandFinish), and a run of such commands can share
// one (group commit).

// commandEntry is one command of a one-transaction run.
type commandEntry struct {
	id    string
	exp   time.Time
	apply func(t *txn) ([]byte, error) // the effect; returns the reply to store
}

// CommandOutcome is what became of one command of a run: Err is nil (applied, and
// recorded with the reply it made), ErrCommandKnown (nothing applied; Stored is the
// stored reply) or ErrCommandInProgress (nothing applied).
type CommandOutcome struct {
	Stored []byte
	Err    error
}

// commandRun applies the entries in order and records each, in one transition, then
// runs after (when not nil) in the same transition. An error from an apply or from
// after fails the whole run: nothing of it is durable.
func (s *Station) commandRun(entries []commandEntry, after func(t *txn) error) ([]CommandOutcome, error) {
	for _, e := range entries {
		if err := store.CheckCommandID(e.id); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := make([]CommandOutcome, len(entries))
	err := s.update(func(t *txn) error {
		for i, e := range entries {
			if reply, done, known, err := t.st.Command(e.id); known || err != nil {
				switch {
				case err != nil:
					return err
				case !done:
					out[i].Err = ErrCommandInProgress
				default:
					out[i] = CommandOutcome{Stored: reply, Err: ErrCommandKnown}
				}
				continue
			}
			reply, err := e.apply(t)
			if err != nil {
				return err
			}
			if err := t.st.PutCommand(e.id, e.exp, reply); err != nil {
				return err
			}
		}
		if after != nil {
			return after(t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("locker: command log: %w", err)
	}
	return out, nil
}

// CommandRecord records command id as done with its final reply, in one durable
// transaction, for a command whose execution changed nothing durable (inventory,
// status, audit range, ping): one write instead of CommandBegin and CommandFinish. For
// a known id it records nothing and returns the stored reply with ErrCommandKnown, or
// ErrCommandInProgress.
func (s *Station) CommandRecord(id string, exp time.Time, reply []byte) ([]byte, error) {
	out, err := s.commandRun([]commandEntry{{id: id, exp: exp, apply: func(*txn) ([]byte, error) { return reply, nil }}}, nil)
	if err != nil {
		return nil, err
	}
	return out[0].Stored, out[0].Err
}

// AnnounceCommand is one announce command for CommandAnnounce.
type AnnounceCommand struct {
	ID    string
	Exp   time.Time
	Batch []Announcement
	// Reply makes the reply to store from the per-announcement results (as Announce
	// returns them). It runs inside the transaction: it must not call the Station.
	Reply func(results []error) ([]byte, error)
}

// CommandAnnounce applies announce commands in order, each as Announce would, and
// records each command with its reply, all in one transaction: a burst of
// announcements costs one durable write, and one audit entry counts the parcels the
// whole run announced. Known ids are not applied again.
func (s *Station) CommandAnnounce(ctx context.Context, cmds []AnnounceCommand) ([]CommandOutcome, error) {
	entries := make([]commandEntry, len(cmds))
	applied := 0
	for i, c := range cmds {
		entries[i] = commandEntry{id: c.ID, exp: c.Exp, apply: func(t *txn) ([]byte, error) {
			results, n, err := s.announceIn(t, c.Batch)
			if err != nil {
				return nil, err
			}
			applied += n
			return c.Reply(results)
		}}
	}
	return s.commandRun(entries, func(t *txn) error { return t.emitAnnounced(applied) })
}

// emitAnnounced records that n parcels were announced (nothing when n is 0).
func (t *txn) emitAnnounced(n int) error {
	if n == 0 {
		return nil
	}
	return t.emit(Event{Type: EvAnnounced, Count: n, Actor: "cloud"})
}

// announceIn is the body of Announce inside a transition; see Announce for the rules.
// Announce and CommandAnnounce both run it, and record the announced event
// (emitAnnounced) with the number of parcels it applied.
func (s *Station) announceIn(t *txn, batch []Announcement) (results []error, applied int, err error) {
	results = make([]error, len(batch))
	ep := s.epochOf(t.now)
	for i, a := range batch {
		if err := a.validate(); err != nil {
			results[i] = err
			continue
		}
		old, err := t.parcel(a.ID)
		if err != nil && !errors.Is(err, ErrUnknownParcel) {
			return nil, 0, err
		}
		if old != nil && old.State != StateAnnounced {
			continue // already deposited or gone: a late duplicate
		}
		e := ep
		if old != nil {
			e = old.Epoch
		}
		wb, err := s.seal(e, a.Waybill)
		if err != nil {
			return nil, 0, err
		}
		if other, err := s.findByWaybill(t.st, a.Waybill); err == nil && other.ID != a.ID {
			results[i] = fmt.Errorf("%w (%s)", ErrConflict, a.ID)
			continue
		}
		p := &Parcel{ID: a.ID, Epoch: e, Waybill: wb, Hint: a.Hint, Size: a.Size,
			State: StateAnnounced, Announced: true}
		if old != nil {
			p.Compartment, p.Generation, p.Courier = old.Compartment, old.Generation, old.Courier
		}
		switch {
		case !a.Verifier.IsZero():
			if p.Verifier, err = s.seal(e, a.Verifier); err != nil {
				return nil, 0, err
			}
		case old != nil:
			// A re-announcement without a verifier (a size change, say) keeps the
			// code set before, by an earlier announcement or set-verifier: absent
			// means "not known here", never "erase".
			p.Verifier = old.Verifier
		}
		p.KeepUntil = a.Until
		if p.KeepUntil.IsZero() {
			p.KeepUntil = t.now.Add(s.policy.AnnouncedKeep)
		}
		if err := t.putParcel(old, p); err != nil {
			return nil, 0, err
		}
		applied++
	}
	return results, applied, nil
}

// commandMark joins a command id to the reason of the events a cloud command causes,
// so that the audit log and the cloud can trace a fact back to its command.
const commandMark = "; command "

// CommandReason returns the reason to pass to a Station method acting on behalf of
// cloud command id (CancelParcel, Recall, SetEnabled, OpenCompartment).
func CommandReason(reason, id string) string { return reason + commandMark + id }

// CommandID returns the id of the cloud command that caused the event: its Command, or
// the one its reason carries (see CommandReason), or "".
func (e Event) CommandID() string {
	if e.Command != "" {
		return e.Command
	}
	if i := strings.LastIndex(e.Reason, commandMark); i >= 0 {
		return e.Reason[i+len(commandMark):]
	}
	return ""
}
