package locker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lockerd/lockerd/locker/store"
)

// Every event is committed to the audit chain with the transition that causes it
// (txn.emit); the outbox is that chain after the last event the cloud acknowledged
// (docs/adr/0060-outbox-in-the-audit-log.md), both kept by locker/store. What is here
// reads them back as events.

// decodeEvent decodes a stored event payload into e.
func decodeEvent(e *Event) store.Decode {
	return func(_ uint64, payload []byte) error { return json.Unmarshal(payload, e) }
}

// VerifyAudit walks the audit chain and returns the number of entries, or an error
// wrapping audit.ErrBroken.
func (s *Station) VerifyAudit() (int, error) { return s.store.VerifyAudit() }

// AuditRange returns the audit entries with sequence numbers from..to, at most max.
func (s *Station) AuditRange(from, to uint64, max int) ([]Event, error) {
	var out []Event
	var ferr error
	err := s.store.AuditRange(from, to, func(seq uint64, payload []byte) bool {
		var e Event
		if ferr = json.Unmarshal(payload, &e); ferr != nil {
			return false
		}
		out = append(out, e)
		return len(out) < max
	})
	if err == nil {
		err = ferr
	}
	return out, err
}

// stepMargin is how far past the start of a window RemoteOpensSince reads on, for
// openings logged after a clock step back.
const stepMargin = time.Hour

// RemoteOpensSince returns when each remote opening (OpenCompartment) since since was
// reserved, oldest first, read from the audit log, so that a rate limit on remote
// openings survives a restart. The log is read from its newest entry back to the first
// one older than since by stepMargin (entries are in commit order: a clock stepped back
// by more than that can end the scan early, which only lets the limit forget openings). An entry that does not
// decode counts as an opening now, the safe side, and is reported in the error, which
// comes with the openings found.
func (s *Station) RemoteOpensSince(since time.Time) ([]time.Time, error) {
	var out []time.Time
	var ferr error
	err := s.store.AuditBackward(func(seq uint64, payload []byte) bool {
		var e Event
		if err := json.Unmarshal(payload, &e); err != nil {
			// Unreadable: count it as an opening (the limit errs on the safe side)
			// and read on, rather than keep the station from starting.
			ferr = errors.Join(ferr, fmt.Errorf("locker: audit entry %d: %w", seq, err))
			out = append(out, s.clock.Now())
			return true
		}
		if e.At.Before(since.Add(-stepMargin)) {
			return false
		}
		if e.At.Before(since) {
			return true // read on a little: a clock stepped back leaves later entries with earlier times
		}
		if e.Type == EvReserved && e.Op == OpOperator {
			out = append(out, e.At)
		}
		return true
	})
	if err == nil {
		err = ferr
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out, err
}

// The cloud link sends only the events its protocol has words for; the others (an
// announcement's count, a reservation, a purge) are facts the cloud already has or
// does not need, and stay in the audit log alone. The receiver finds gaps and restores
// order by sequence number, so the events it gets are numbered densely (store.Wire).

// WireEvent is an outbox event with its number on the wire.
type WireEvent struct {
	Event
	Wire uint64
}

// WireOutbox is the outbox as the cloud link sees it: only the events keep accepts,
// numbered 1, 2, 3, … for ever. Create it with Station.WireOutbox; one per station,
// used by one link.
type WireOutbox struct {
	s *Station
	w store.Wire
}

// WireOutbox returns the outbox view for a link that sends the events keep accepts.
// keep must be a pure function of the event (the numbering relies on it) and cheap.
func (s *Station) WireOutbox(keep func(Event) bool) *WireOutbox {
	return &WireOutbox{s: s, w: s.store.Wire(func(payload []byte) (bool, error) {
		var e Event
		if err := json.Unmarshal(payload, &e); err != nil {
			return false, err
		}
		return keep(e), nil
	})}
}

// Pending returns up to max kept events numbered after after, in order. It only reads.
func (o *WireOutbox) Pending(after uint64, max int) ([]WireEvent, error) {
	var out []WireEvent
	err := o.w.Pending(after, max, func(wire, seq uint64, payload []byte) error {
		var e Event
		if err := decodeEvent(&e)(seq, payload); err != nil {
			return err
		}
		out = append(out, WireEvent{Event: e, Wire: wire})
		return nil
	})
	return out, err
}

// Ack removes the kept events numbered up to wire, and every event the link does not
// send that precedes the last of them, after the broker acknowledged them. Acking an
// event again is not an error.
func (o *WireOutbox) Ack(wire uint64) error {
	return o.w.Ack(wire, func() (func(), error) {
		o.s.mu.Lock()
		if o.s.closed {
			o.s.mu.Unlock()
			return nil, ErrClosed
		}
		return o.s.mu.Unlock, nil
	})
}

// Wake is signalled after each transition that added events.
func (o *WireOutbox) Wake() <-chan struct{} { return o.s.wake }

// Len returns the number of kept events not yet acknowledged.
func (o *WireOutbox) Len() (int, error) { return o.w.Len() }

// Facts the station does not observe itself; the firmware records them with Record.
const (
	EvHardware EventType = "hardware" // a driver's health changed
	EvHealth   EventType = "health"   // periodic health report
	EvUpdate   EventType = "update"   // a step of a signed update (firmware/update)
)

// maxReport bounds the report of a recorded fact.
const maxReport = 4096

// ErrReport is returned by Record for an event type it does not take or an oversized
// report.
var ErrReport = errors.New("locker: not a recordable report")

// Record commits a fact reported from outside the station (EvHardware, EvHealth, EvUpdate) to the
// audit log and the outbox, like every event. report is the reporter's JSON encoding of
// the fact; it holds no personal data and becomes the event's Report. actor names the
// component it is about.
func (s *Station) Record(typ EventType, actor string, report []byte) error {
	if (typ != EvHardware && typ != EvHealth && typ != EvUpdate) || len(report) > maxReport || len(actor) > 64 || !json.Valid(report) {
		return fmt.Errorf("%w: %s", ErrReport, typ)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.update(func(t *txn) error {
		return t.emit(Event{Type: typ, Actor: actor, Report: bytes.Clone(report)})
	})
}
