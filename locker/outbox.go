package locker

import (
	"time"

	"github.com/lockerd/lockerd/locker/eventlog"
)

// Every event is committed to the audit chain with the transition that causes it
// (txn.emit); the outbox is that chain after the last event the cloud acknowledged
// (docs/adr/0060-outbox-in-the-audit-log.md), both kept by locker/store.
// locker/eventlog reads them back as events.

// VerifyAudit walks the audit chain and returns the number of entries, or an error
// wrapping audit.ErrBroken.
func (s *Station) VerifyAudit() (int, error) { return s.store.VerifyAudit() }

// AuditRange returns the audit entries with sequence numbers from..to, at most max.
func (s *Station) AuditRange(from, to uint64, max int) ([]Event, error) {
	return eventlog.Range(s.store, from, to, max)
}

// RemoteOpensSince returns when each remote opening (OpenCompartment) since since was
// reserved, oldest first, read from the audit log, so that a rate limit on remote
// openings survives a restart (eventlog.RemoteOpensSince: an unreadable entry counts
// as an opening now, and is reported in the error that comes with the openings).
func (s *Station) RemoteOpensSince(since time.Time) ([]time.Time, error) {
	return eventlog.RemoteOpensSince(s.store, since, s.clock.Now)
}

// The outbox as the cloud link sees it (locker/eventlog).
type (
	WireEvent  = eventlog.WireEvent
	WireOutbox = eventlog.Outbox
)

// WireOutbox returns the outbox view for a link that sends the events keep accepts
// (eventlog.NewOutbox); one per station, used by one link. keep must be a pure
// function of the event (the numbering relies on it) and cheap.
func (s *Station) WireOutbox(keep func(Event) bool) *WireOutbox {
	return eventlog.NewOutbox(s.store, keep, func() (func(), error) {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		return s.mu.Unlock, nil
	}, s.wake)
}

// Facts the station does not observe itself; the firmware records them with Record.
const (
	EvHardware = eventlog.EvHardware // a driver's health changed
	EvHealth   = eventlog.EvHealth   // periodic health report
	EvUpdate   = eventlog.EvUpdate   // a step of a signed update (firmware/update)
)

// ErrReport is returned by Record for an event type it does not take or an oversized
// report.
var ErrReport = eventlog.ErrReport

// Record commits a fact reported from outside the station (EvHardware, EvHealth,
// EvUpdate) to the audit log and the outbox, like every event (eventlog.Report says
// what is taken).
func (s *Station) Record(typ EventType, actor string, report []byte) error {
	e, err := eventlog.Report(typ, actor, report)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.update(func(t *txn) error { return t.emit(e) })
}
