package model

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/lockerd/lockerd/locker/privacy"
)

// EventType names what happened. The names are stable: they are stored in the audit log
// and the outbox and sent to the cloud.
type EventType string

// Event types. Parcel transitions first, then door facts, then alarms and operations.
const (
	EvAnnounced      EventType = "announced"
	EvDeposited      EventType = "deposited"
	EvDepositAborted EventType = "deposit_aborted"
	EvPickedUp       EventType = "picked_up"
	EvExpired        EventType = "expired"
	EvRetrieved      EventType = "retrieved"
	EvCancelled      EventType = "cancelled"
	EvRecalled       EventType = "recalled"
	EvPurged         EventType = "purged"
	EvVerifierSet    EventType = "verifier_set"

	EvReserved     EventType = "reserved"      // a compartment was reserved for an operation
	EvUnlocked     EventType = "unlocked"      // the relay was pulsed (not: the door opened)
	EvUnlockFailed EventType = "unlock_failed" // the driver refused or failed the pulse
	EvDoorOpened   EventType = "door_opened"
	EvDoorClosed   EventType = "door_closed"

	EvJammed    EventType = "jammed"
	EvForced    EventType = "forced"
	EvLeftOpen  EventType = "left_open"
	EvThrottled EventType = "throttled"
	// EvGuessing: more than the policy's alarm_failures failed codes (Source code) or
	// QR scans (Source qr) in the last hour (ADR 0046); Count failures, Seconds the
	// window. At most once an hour per source.
	EvGuessing EventType = "guessing"
	// EvThrottleCleared: an operator cleared a throttle (Source code or courier).
	EvThrottleCleared EventType = "throttle_cleared"
	EvWrongParcel     EventType = "wrong_parcel"

	EvCompartmentDisabled EventType = "compartment_disabled"
	EvCompartmentEnabled  EventType = "compartment_enabled"
	EvCourierUpserted     EventType = "courier_upserted"
	EvCourierRevoked      EventType = "courier_revoked"
	// EvSubjectErased records an erasure of a data subject's pseudonyms
	// (docs/adr/0065-audit-actors-as-pseudonyms.md): Count keys destroyed; it never
	// names the subject.
	EvSubjectErased EventType = "subject_erased"
	EvPolicyChanged EventType = "policy_changed"
	EvReconciled    EventType = "reconciled" // a stored operation was finished or aborted at start-up
	EvStarted       EventType = "started"
)

// Event is one fact, committed in the same transaction as the state change it reports.
// It is appended to the hash-chained audit log and to the outbox for the cloud. It holds
// opaque ids only; Waybill carries the cloud-side waybill digest solely for parcels the
// cloud did not announce, so that it can match them.
type Event struct {
	Seq         uint64          `json:"seq"`
	ID          string          `json:"id"`
	Type        EventType       `json:"type"`
	At          time.Time       `json:"at"`
	Parcel      ParcelID        `json:"parcel,omitempty"`
	Compartment CompartmentID   `json:"compartment,omitempty"`
	Generation  uint64          `json:"generation,omitempty"`
	State       ParcelState     `json:"state,omitempty"`
	Actor       string          `json:"actor,omitempty"` // courier id, operator name, "recipient" or "system"
	Reason      string          `json:"reason,omitempty"`
	Waybill     *privacy.Digest `json:"waybill,omitempty"`
	Count       int             `json:"count,omitempty"`

	// Structured facts some types carry, for machines (the cloud link); Reason is for
	// people and its wording may change.
	Op      Op              `json:"op,omitempty"`      // the door's operation: door events, reserved, reconciled
	Seconds int64           `json:"seconds,omitempty"` // left_open: how long the door was open; throttled: how long entry is locked
	Source  string          `json:"source,omitempty"`  // throttled, throttle_cleared: ThrottleCode or ThrottleCourier; guessing: ThrottleCode or ThrottleQR
	Outcome string          `json:"outcome,omitempty"` // reconciled: ReconcileCompleted, ReconcileUnverified or ReconcileUndone
	Report  json.RawMessage `json:"report,omitempty"`  // hardware, health: the reporter's JSON (see Record)
	Command string          `json:"command,omitempty"` // door events of an operation a cloud command started
}

// What a throttled event's Source names: the entry that is locked.
const (
	ThrottleCode    = "code"    // pickup codes on the keypad or scanner
	ThrottleCourier = "courier" // courier badge and PIN logins
	ThrottleQR      = "qr"      // guessing events: pickup QR scans
)

// ThrottleWhat names a throttle's source for people (in reasons and logs).
var ThrottleWhat = map[string]string{ThrottleCode: "pickup code", ThrottleCourier: "courier"}

// What a reconciled event's Outcome says became of the operation found at start-up
// (ADR 0004).
const (
	ReconcileCompleted  = "completed"  // the door was seen open: the operation is finished
	ReconcileUnverified = "unverified" // a deposit, pickup, retrieval or cancel whose door was never seen: an operator must resolve it
	ReconcileUndone     = "undone"     // an operator's opening whose door was never seen: no parcel moves, it is undone
)

// Actors that are not a courier or operator id.
const (
	ActorRecipient = "recipient"
	ActorSystem    = "system"
	ActorStaff     = "staff"
	ActorCloud     = "cloud" // a change the cloud made with a command (couriers, erasures)
)

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

// EvResolved records an operator's resolution of an unverified compartment: Actor is the
// operator, Reason says present or absent (and the cloud command, if one asked).
const EvResolved EventType = "resolved"
