// Package eventlog reads the station's events back. Every event is committed to the
// audit chain with the transition that causes it, and the outbox is that chain after
// the last event the cloud acknowledged (docs/adr/0060-outbox-in-the-audit-log.md),
// both kept by the store as JSON payloads; this package decodes them: a range of the
// audit log (Range), the remote openings a rate limit counts (RemoteOpensSince), the
// outbox as the cloud link numbers it (Outbox), and the facts reported from outside
// the station (Report).
//
// It writes nothing and holds no state but the store's: package locker appends the
// events, in its transitions, and lends an Outbox its lock for acknowledgements.
package eventlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/store"
)

// Log is what reading events back needs of the store: the audit chain in and against
// sequence order, and the outbox's wire view (store.Store).
type Log interface {
	AuditRange(from, to uint64, fn func(seq uint64, payload []byte) bool) error
	AuditBackward(fn func(seq uint64, payload []byte) bool) error
	Wire(keep func(payload []byte) (bool, error)) store.Wire
}

// Decode decodes a stored event payload into e.
func Decode(e *model.Event) store.Decode {
	return func(_ uint64, payload []byte) error { return json.Unmarshal(payload, e) }
}

// Range returns the audit entries with sequence numbers from..to, at most max.
func Range(l Log, from, to uint64, max int) ([]model.Event, error) {
	var out []model.Event
	var ferr error
	err := l.AuditRange(from, to, func(seq uint64, payload []byte) bool {
		var e model.Event
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

// RemoteOpensSince returns when each remote opening (an operator's reservation, the
// Station's OpenCompartment) since since was reserved, oldest first, read from the
// audit log, so that a rate limit on remote openings survives a restart. The log is
// read from its newest entry back to the first one older than since by stepMargin
// (entries are in commit order: a clock stepped back by more than that can end the
// scan early, which only lets the limit forget openings). An entry that does not
// decode counts as an opening at now(), the safe side, and is reported in the error,
// which comes with the openings found.
func RemoteOpensSince(l Log, since time.Time, now func() time.Time) ([]time.Time, error) {
	var out []time.Time
	var ferr error
	err := l.AuditBackward(func(seq uint64, payload []byte) bool {
		var e model.Event
		if err := json.Unmarshal(payload, &e); err != nil {
			// Unreadable: count it as an opening (the limit errs on the safe side)
			// and read on, rather than keep the station from starting.
			ferr = errors.Join(ferr, fmt.Errorf("locker: audit entry %d: %w", seq, err))
			out = append(out, now())
			return true
		}
		if e.At.Before(since.Add(-stepMargin)) {
			return false
		}
		if e.At.Before(since) {
			return true // read on a little: a clock stepped back leaves later entries with earlier times
		}
		if e.Type == model.EvReserved && e.Op == model.OpOperator {
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

// Facts the station does not observe itself; the firmware records them with the
// Station's Record.
const (
	EvHardware model.EventType = "hardware" // a driver's health changed
	EvHealth   model.EventType = "health"   // periodic health report
	EvUpdate   model.EventType = "update"   // a step of a signed update (firmware/update)
)

// maxReport bounds the report of a recorded fact.
const maxReport = 4096

// ErrReport is returned by Report for an event type it does not take or an oversized
// report.
var ErrReport = errors.New("locker: not a recordable report")

// Report returns the event recording a fact reported from outside the station
// (EvHardware, EvHealth, EvUpdate). report is the reporter's JSON encoding of the fact;
// it holds no personal data and becomes the event's Report. actor names the component
// it is about.
func Report(typ model.EventType, actor string, report []byte) (model.Event, error) {
	if (typ != EvHardware && typ != EvHealth && typ != EvUpdate) || len(report) > maxReport || len(actor) > 64 || !json.Valid(report) {
		return model.Event{}, fmt.Errorf("%w: %s", ErrReport, typ)
	}
	return model.Event{Type: typ, Actor: actor, Report: bytes.Clone(report)}, nil
}
