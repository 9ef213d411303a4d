package protocol

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// Event is one fact a locker reports on its event topic. ID is unique (the
// receiver deduplicates by it: delivery is at least once); Seq grows by one
// per event on a device and never repeats, so gaps and order are visible.
type Event struct {
	ID   string          `json:"id"`
	Seq  uint64          `json:"seq"`
	Type EventType       `json:"type"`
	Time time.Time       `json:"time"`
	Body json.RawMessage `json:"body"`
}

// EventBody is implemented by every event body type.
type EventBody interface {
	// Validate checks the body's values.
	Validate() error
}

// ParcelEvent is the body of parcel transitions (deposited, picked_up,
// expired, retrieved, cancelled, recalled).
type ParcelEvent struct {
	Parcel      string  `json:"parcel"`                // opaque parcel id
	Compartment uint16  `json:"compartment,omitempty"` // where it is or was
	Actor       string  `json:"actor,omitempty"`       // courier or operator id, "recipient", "system"
	Command     string  `json:"command,omitempty"`     // id of the command that caused it, if any
	Size        Size    `json:"size,omitempty"`
	Waybill     *Digest `json:"waybill,omitempty"` // only for parcels the cloud did not announce
}

// Validate implements EventBody.
func (e *ParcelEvent) Validate() error {
	if err := checkID("body.parcel", e.Parcel); err != nil {
		return err
	}
	if e.Size != "" && !e.Size.Valid() {
		return schemaErr("body.size", ProblemBadValue, "want S, M, L or XL")
	}
	return checkOptionalIDs("body.actor", e.Actor, "body.command", e.Command)
}

// DoorEvent is the body of door facts: unlocked (relay pulsed),
// unlock_failed, door_opened, door_closed, jammed, forced, left_open.
type DoorEvent struct {
	Compartment uint16 `json:"compartment"`
	Op          DoorOp `json:"op,omitempty"`      // the operation under way, if any
	Parcel      string `json:"parcel,omitempty"`  // the parcel concerned, if any
	Actor       string `json:"actor,omitempty"`   // who asked for the operation
	Command     string `json:"command,omitempty"` // remote open: the command id
	OpenS       int64  `json:"open_s,omitempty"`  // left_open: seconds open so far
}

// Validate implements EventBody.
func (e *DoorEvent) Validate() error {
	if err := checkCompartment("body.compartment", e.Compartment); err != nil {
		return err
	}
	if e.Op != "" && !e.Op.Valid() {
		return schemaErr("body.op", ProblemBadValue, "not a known door operation")
	}
	if e.OpenS < 0 {
		return schemaErr("body.open_s", ProblemBadValue, "negative")
	}
	return checkOptionalIDs("body.parcel", e.Parcel, "body.actor", e.Actor, "body.command", e.Command)
}

// ThrottledEvent reports that guessing was slowed down.
type ThrottledEvent struct {
	Source   ThrottleSource `json:"source"`
	Failures int            `json:"failures"` // consecutive failures so far
	DelayS   int64          `json:"delay_s"`  // how long entry is locked
}

// Validate implements EventBody.
func (e *ThrottledEvent) Validate() error {
	if e.Source != ThrottleCode && e.Source != ThrottleCourier {
		return schemaErr("body.source", ProblemBadValue, "want code or courier")
	}
	if e.Failures < 0 || e.DelayS < 0 {
		return schemaErr("body", ProblemBadValue, "negative count or delay")
	}
	return nil
}

// HardwareEvent reports a change in a component's health.
type HardwareEvent struct {
	Component string `json:"component"`      // driver or device id, e.g. "lockboard-1"
	State     Health `json:"state"`          // new state
	Code      string `json:"code,omitempty"` // short machine-readable cause
}

// Validate implements EventBody.
func (e *HardwareEvent) Validate() error {
	if err := checkID("body.component", e.Component); err != nil {
		return err
	}
	if !e.State.Valid() {
		return schemaErr("body.state", ProblemBadValue, "not a known health state")
	}
	return checkOptionalIDs("body.code", e.Code)
}

// HealthEvent is the periodic health report.
type HealthEvent struct {
	UptimeS     int64             `json:"uptime_s"`
	StorageFree uint64            `json:"storage_free_bytes"`
	Outbox      int               `json:"outbox"`  // events not yet acknowledged by the broker
	Parcels     int               `json:"parcels"` // parcels waiting (announced or deposited)
	Drivers     map[string]Health `json:"drivers,omitempty"`
	Audit       *AuditHead        `json:"audit,omitempty"` // the audit chain's head (ADR 0050)
}

// Validate implements EventBody.
func (e *HealthEvent) Validate() error {
	if e.UptimeS < 0 || e.Outbox < 0 || e.Parcels < 0 {
		return schemaErr("body", ProblemBadValue, "negative count")
	}
	if e.Audit != nil {
		if err := e.Audit.validate(); err != nil {
			return err
		}
	}
	for name, h := range e.Drivers {
		if !ValidID(name) {
			return schemaErr("body.drivers", ProblemBadIdentifier, "driver name not an id")
		}
		if !h.Valid() {
			return schemaErr(join("body.drivers", name), ProblemBadValue, "not a known health state")
		}
	}
	return nil
}

// ReconciledEvent reports how an operation that was under way at a door when the
// device stopped was settled when it started again.
type ReconciledEvent struct {
	Compartment uint16  `json:"compartment"`
	Op          DoorOp  `json:"op"`      // the operation that was under way
	Outcome     Outcome `json:"outcome"` // what became of it
}

// Validate implements EventBody.
func (e *ReconciledEvent) Validate() error {
	if err := checkCompartment("body.compartment", e.Compartment); err != nil {
		return err
	}
	if !e.Op.Valid() {
		return schemaErr("body.op", ProblemBadValue, "not a known door operation")
	}
	if !e.Outcome.Valid() {
		return schemaErr("body.outcome", ProblemBadValue, "want completed, undone or unverified")
	}
	return nil
}

// WrongParcelEvent reports that staff at a staffed pickup point scanned a parcel that
// matches no handover under way: the wrong parcel was about to be handed over.
type WrongParcelEvent struct {
	Actor   string `json:"actor,omitempty"` // who scanned, e.g. "staff"
	Waiting int    `json:"waiting"`         // handovers under way at that moment
}

// Validate implements EventBody.
func (e *WrongParcelEvent) Validate() error {
	if e.Waiting < 0 {
		return schemaErr("body.waiting", ProblemBadValue, "negative")
	}
	return checkOptionalIDs("body.actor", e.Actor)
}

// NewEventBody returns a new zero body for an event type.
func NewEventBody(t EventType) (EventBody, error) {
	switch t {
	case EvDeposited, EvPickedUp, EvExpired, EvRetrieved, EvCancelled, EvRecalled:
		return &ParcelEvent{}, nil
	case EvUnlocked, EvUnlockFailed, EvDoorOpened, EvDoorClosed, EvJammed, EvForced, EvLeftOpen:
		return &DoorEvent{}, nil
	case EvThrottled:
		return &ThrottledEvent{}, nil
	case EvHardware:
		return &HardwareEvent{}, nil
	case EvHealth:
		return &HealthEvent{}, nil
	case EvReconciled:
		return &ReconciledEvent{}, nil
	case EvWrongParcel:
		return &WrongParcelEvent{}, nil
	case EvGuessing:
		return &GuessingEvent{}, nil
	case EvThrottleCleared:
		return &ThrottleClearedEvent{}, nil
	case EvClock:
		return &ClockEvent{}, nil
	case EvUpdate:
		return &UpdateEvent{}, nil
	}
	return nil, schemaErr("type", ProblemUnknownType, "not a known event type")
}

// NewEvent builds an event, validating body against t.
func NewEvent(id string, seq uint64, t EventType, at time.Time, body EventBody) (Event, error) {
	want, err := NewEventBody(t)
	if err != nil {
		return Event{}, err
	}
	if reflect.TypeOf(want) != reflect.TypeOf(body) {
		return Event{}, schemaErr("body", ProblemWrongType, "%s events carry %T", t, want)
	}
	if err := body.Validate(); err != nil {
		return Event{}, err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return Event{}, fmt.Errorf("protocol: encode %s event: %w", t, err)
	}
	e := Event{ID: id, Seq: seq, Type: t, Time: at.UTC(), Body: raw}
	return e, e.check()
}

func (e *Event) check() error {
	switch {
	case !ValidID(e.ID):
		return schemaErr("id", ProblemBadIdentifier, "want 1..64 of A-Z a-z 0-9 . _ : -")
	case e.Seq == 0:
		return schemaErr("seq", ProblemBadValue, "sequence numbers start at 1")
	case !e.Type.Valid():
		return schemaErr("type", ProblemUnknownType, "not a known event type")
	case e.Time.IsZero():
		return schemaErr("time", ProblemBadValue, "zero time")
	}
	return nil
}

// DecodeEvent decodes an event and its body. Unknown members are ignored
// (see decodeLenient) but unknown event types are refused, so a receiver
// can tell "newer than me" from "broken" by ProblemUnknownType.
func DecodeEvent(payload []byte) (*Event, EventBody, error) {
	var e Event
	if err := decodeLenient(payload, &e, ""); err != nil {
		return nil, nil, err
	}
	if err := e.check(); err != nil {
		return nil, nil, err
	}
	body, err := NewEventBody(e.Type)
	if err != nil {
		return nil, nil, err
	}
	if err := decodeLenient(e.Body, body, "body"); err != nil {
		return nil, nil, err
	}
	if err := body.Validate(); err != nil {
		return nil, nil, err
	}
	return &e, body, nil
}

// checkOptionalIDs takes pairs of path and id and checks the non-empty ids.
func checkOptionalIDs(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if path, id := pairs[i], pairs[i+1]; id != "" && !ValidID(id) {
			return schemaErr(path, ProblemBadIdentifier, "want 1..64 of A-Z a-z 0-9 . _ : -")
		}
	}
	return nil
}
