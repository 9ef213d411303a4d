package cloudlink

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/clock"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Which station events go to the cloud, and in what form, is decided in
// docs/adr/0026-station-events-on-the-wire.md. The station's vocabulary is richer than
// the protocol's; events the protocol has no word for are facts the cloud already has
// from a command's reply (announced, verifier_set, courier_*, compartment_*,
// policy_changed), intermediate steps whose outcome other events report (reserved,
// deposit_aborted), housekeeping (purged) or what presence says (started). They stay in
// the audit log and are never sent. The station's clock events are sent when they
// report an anomaly (docs/adr/0058-time-without-a-clock-chip.md); whether the time is
// trusted changes at every start and stays in the audit log.

// wireEvent converts a station event into the protocol event numbered seq; ok is false
// when the event is not sent. It is a pure function of the event: the outbox numbering
// relies on that.
func wireEvent(e locker.Event, seq uint64) (ev protocol.Event, ok bool) {
	typ, body := wireBody(e)
	if body == nil {
		return protocol.Event{}, false
	}
	ev, err := protocol.NewEvent(e.ID, seq, typ, e.At, body)
	return ev, err == nil
}

// keepEvent is the outbox filter: the events wireEvent sends.
func keepEvent(e locker.Event) bool {
	_, ok := wireEvent(e, 1)
	return ok
}

func wireBody(e locker.Event) (protocol.EventType, protocol.EventBody) {
	switch e.Type {
	case locker.EvDeposited, locker.EvPickedUp, locker.EvExpired, locker.EvRetrieved,
		locker.EvCancelled, locker.EvRecalled:
		b := &protocol.ParcelEvent{Parcel: string(e.Parcel), Compartment: uint16(e.Compartment),
			Actor: optionalID(e.Actor), Command: optionalID(e.CommandID())}
		if e.Waybill != nil {
			d := protocol.Digest(*e.Waybill)
			b.Waybill = &d
		}
		return protocol.EventType(e.Type), b
	case locker.EvUnlocked, locker.EvUnlockFailed, locker.EvDoorOpened, locker.EvDoorClosed,
		locker.EvJammed, locker.EvForced, locker.EvLeftOpen:
		b := &protocol.DoorEvent{Compartment: uint16(e.Compartment), Parcel: optionalID(string(e.Parcel)),
			Actor: optionalID(e.Actor), Command: optionalID(e.CommandID())}
		switch e.Type {
		case locker.EvForced:
			b.Op = protocol.OpNone
		case locker.EvLeftOpen:
			b.Op, b.OpenS = doorOp(e.Op), e.Seconds
		default:
			b.Op = doorOp(e.Op)
		}
		return protocol.EventType(e.Type), b
	case locker.EvThrottled:
		b := &protocol.ThrottledEvent{Source: protocol.ThrottleCode, Failures: e.Count, DelayS: e.Seconds}
		if e.Source == locker.ThrottleCourier {
			b.Source = protocol.ThrottleCourier
		}
		return protocol.EvThrottled, b
	case locker.EvGuessing:
		src := protocol.ThrottleCode
		if e.Source == locker.ThrottleQR {
			src = protocol.ThrottleQR
		}
		return protocol.EvGuessing, &protocol.GuessingEvent{Source: src, Failures: e.Count, WindowS: e.Seconds}
	case locker.EvThrottleCleared:
		return protocol.EvThrottleCleared, &protocol.ThrottleClearedEvent{Source: protocol.ThrottleSource(e.Source),
			Actor: e.Actor, Command: optionalID(e.Command)}
	case locker.EvReconciled:
		return protocol.EvReconciled, &protocol.ReconciledEvent{Compartment: uint16(e.Compartment), Op: doorOp(e.Op),
			Outcome: protocol.Outcome(e.Outcome)}
	case locker.EvClock:
		// Anomalies only: trusted and untrusted happen at every start (audit log).
		if e.Source == string(clock.KindTrusted) || e.Source == string(clock.KindUntrusted) {
			return "", nil
		}
		return protocol.EvClock, &protocol.ClockEvent{Kind: e.Source, ByS: e.Seconds, Count: e.Count}
	case locker.EvWrongParcel:
		return protocol.EvWrongParcel, &protocol.WrongParcelEvent{Actor: optionalID(e.Actor), Waiting: e.Count}
	case locker.EvHardware:
		var b protocol.HardwareEvent
		if json.Unmarshal(e.Report, &b) != nil {
			return "", nil
		}
		return protocol.EvHardware, &b
	case locker.EvHealth:
		var b protocol.HealthEvent
		if json.Unmarshal(e.Report, &b) != nil {
			return "", nil
		}
		return protocol.EvHealth, &b
	case locker.EvUpdate:
		var b protocol.UpdateEvent
		if json.Unmarshal(e.Report, &b) != nil {
			return "", nil
		}
		return protocol.EvUpdate, &b
	}
	return "", nil
}

// doorOp names a station operation in the protocol's words (OpNone for none, "" for
// one the protocol has no word for).
func doorOp(op locker.Op) protocol.DoorOp {
	if op == locker.OpNone {
		return protocol.OpNone
	}
	if d := protocol.DoorOp(op); d.Valid() {
		return d
	}
	return ""
}

// optionalID drops what is not a protocol id (a free-text actor from the local control
// socket): the member is optional, the event is not.
func optionalID(s string) string {
	if protocol.ValidID(s) {
		return s
	}
	return ""
}

// wireOutbox is the link's Outbox over the station's. Acknowledgements are kept in
// memory and stored in one transaction once ackBatch of them are waiting (checked
// before each read), and when the link stops: an event whose ack was lost in a crash
// is simply sent again, which delivery at least once allows. Storing them at every
// read made each event cost a second commit on the card (issue 17, the flash budget).
type wireOutbox struct {
	wo  *locker.WireOutbox
	log *slog.Logger

	mu            sync.Mutex
	acked, stored uint64
}

var _ link.Outbox = (*wireOutbox)(nil)

func newWireOutbox(st *locker.Station, log *slog.Logger) *wireOutbox {
	return &wireOutbox{wo: st.WireOutbox(keepEvent), log: log}
}

// ackBatch is how many acknowledgements wait in memory before they are stored: at most
// that many events are sent again after a crash.
const ackBatch = 64

// Pending implements link.Outbox.
func (o *wireOutbox) Pending(after uint64, max int) ([]protocol.Event, error) {
	if err := o.flushAt(ackBatch); err != nil {
		return nil, err
	}
	evs, err := o.wo.Pending(after, max)
	if err != nil {
		return nil, fmt.Errorf("cloudlink: outbox: %w", err)
	}
	out := make([]protocol.Event, 0, len(evs))
	for _, we := range evs {
		ev, ok := wireEvent(we.Event, we.Wire)
		if !ok { // cannot happen: the outbox kept only what converts
			return nil, fmt.Errorf("cloudlink: outbox event %d does not convert", we.Seq)
		}
		out = append(out, ev)
	}
	return out, nil
}

// Ack implements link.Outbox.
func (o *wireOutbox) Ack(seq uint64) error {
	o.mu.Lock()
	o.acked = max(o.acked, seq)
	o.mu.Unlock()
	return nil
}

// pending counts the events not yet acknowledged by the broker, or returns fallback
// if the outbox cannot be read.
func (o *wireOutbox) pending(fallback int) int {
	n, err := o.wo.Len()
	if err != nil {
		return fallback
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return max(n-int(o.acked-o.stored), 0)
}

// Wake implements link.Outbox.
func (o *wireOutbox) Wake() <-chan struct{} { return o.wo.Wake() }

// flush stores the acknowledgements received since the last flush.
func (o *wireOutbox) flush() error { return o.flushAt(1) }

// flushAt stores the acknowledgements received since the last flush if there are at
// least n of them.
func (o *wireOutbox) flushAt(n uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.acked < o.stored+n {
		return nil
	}
	if err := o.wo.Ack(o.acked); err != nil {
		return fmt.Errorf("cloudlink: outbox ack: %w", err)
	}
	o.stored = o.acked
	return nil
}
