package protocol

import (
	"fmt"

	"github.com/lockerd/lockerd/internal/enum"
)

// The string enumerations of the protocol. Their values go on the wire and
// into durable logs, so they are explicit constants that never change
// meaning; new values may be added, old ones never reused. Each type has a
// Parse function, a Valid method and a list of all values (for docs and
// tests that keep docs/asyncapi.yaml honest), all from one internal/enum Set
// (ADR 0044).

// unknown is the Parse error of every enumeration of the protocol: a schema
// error naming the enumeration and (at most 32 bytes of) the value.
func unknown(what string) func(string) error {
	return func(s string) error { return fmt.Errorf("%w: unknown %s %.32q", ErrSchema, what, s) }
}

// CommandType is the "typ" claim of a command: what the cloud asks for.
type CommandType string

// Command types.
const (
	CmdAnnounce           CommandType = "announce"
	CmdSetVerifier        CommandType = "set-verifier"
	CmdCancel             CommandType = "cancel"
	CmdRecall             CommandType = "recall"
	CmdCourierUpsert      CommandType = "courier-upsert"
	CmdCourierRevoke      CommandType = "courier-revoke"
	CmdOpenCompartment    CommandType = "open-compartment"
	CmdDisableCompartment CommandType = "disable-compartment"
	CmdEnableCompartment  CommandType = "enable-compartment"
	// CmdResolveCompartment settles an operation left unverified by a restart (ADR 0004, ADR 0034).
	CmdResolveCompartment CommandType = "resolve-compartment"
	CmdInventory          CommandType = "inventory"
	CmdStatus             CommandType = "status"
	CmdAuditRange         CommandType = "audit-range"
	CmdPolicy             CommandType = "policy"
	CmdPing               CommandType = "ping"
	// CmdClearThrottle clears a lock-out on an operator's word (ADR 0046).
	CmdClearThrottle CommandType = "clear-throttle"
	// CmdTime carries the cloud's time to a locker whose clock is not trusted: the
	// one command exempt from the exp and iat window, accepted only when its iat is
	// newer than the locker's last trusted time (docs/adr/0058-time-without-a-clock-chip.md).
	CmdTime CommandType = "time"
	// CmdUpdate installs a release signed by a release key (ADR 0064).
	CmdUpdate CommandType = "update"
	// CmdEraseSubject erases a courier's or operator's pseudonyms from the audit
	// log's reach (ADR 0065).
	CmdEraseSubject CommandType = "erase-subject"
)

var commandTypes = enum.Strings(unknown("command type"),
	CmdAnnounce, CmdSetVerifier, CmdCancel, CmdRecall, CmdCourierUpsert, CmdCourierRevoke,
	CmdOpenCompartment, CmdDisableCompartment, CmdEnableCompartment, CmdResolveCompartment,
	CmdInventory, CmdStatus, CmdAuditRange, CmdPolicy, CmdPing, CmdClearThrottle, CmdTime, CmdUpdate,
	CmdEraseSubject,
)

// ParseCommandType parses a command type.
func ParseCommandType(s string) (CommandType, error) { return commandTypes.Parse(s) }

// Valid reports whether c is a defined command type.
func (c CommandType) Valid() bool { return commandTypes.Valid(c) }

// CommandTypes lists every command type.
func CommandTypes() []CommandType { return commandTypes.Values() }

// Status is the outcome a reply reports. A command gets at most one final
// status (done, refused, failed, unknown), possibly preceded by accepted.
type Status string

// Reply statuses.
const (
	// StatusAccepted: verified, recorded durably, handed over for execution.
	StatusAccepted Status = "accepted"
	// StatusDone: executed; the body holds the result.
	StatusDone Status = "done"
	// StatusRefused: not executed; Reason says why. Nothing changed.
	StatusRefused Status = "refused"
	// StatusFailed: execution was attempted and failed; Reason says why.
	StatusFailed Status = "failed"
	// StatusUnknown: the device restarted while executing it; the outcome is
	// unknown and it will not be re-run. Ask with status or inventory.
	StatusUnknown Status = "unknown"
)

var statuses = enum.Strings(unknown("status"), StatusAccepted, StatusDone, StatusRefused, StatusFailed, StatusUnknown)

// ParseStatus parses a reply status.
func ParseStatus(s string) (Status, error) { return statuses.Parse(s) }

// Valid reports whether s is a defined status.
func (s Status) Valid() bool { return statuses.Valid(s) }

// Final reports whether no further reply follows for the same command.
func (s Status) Final() bool { return s.Valid() && s != StatusAccepted }

// Statuses lists every status.
func Statuses() []Status { return statuses.Values() }

// Reason is the machine-readable cause of a refused, failed or unknown reply.
type Reason string

// Refusal reasons found by the link before any handler runs.
const (
	ReasonMalformed     Reason = "malformed"      // not a compact JWS, or not JSON
	ReasonTooLarge      Reason = "too_large"      // over the size limit
	ReasonBadHeader     Reason = "bad_header"     // alg other than EdDSA, crit, b64, ...
	ReasonBadSignature  Reason = "bad_signature"  // no pinned fleet key verifies it
	ReasonBadAudience   Reason = "bad_audience"   // aud is another locker
	ReasonExpired       Reason = "expired"        // exp has passed
	ReasonNotYetValid   Reason = "not_yet_valid"  // iat too far in the future
	ReasonLifetime      Reason = "lifetime"       // exp - iat longer than allowed
	ReasonSchema        Reason = "schema"         // claims or body break the schema; Detail says where
	ReasonUnknownType   Reason = "unknown_type"   // typ is not a known command
	ReasonBusy          Reason = "busy"           // the command queue is full; retry later
	ReasonShuttingDown  Reason = "shutting_down"  // the device is stopping
	ReasonInterrupted   Reason = "interrupted"    // with StatusUnknown: restart during execution
	ReasonNotFound      Reason = "not_found"      // parcel, courier or compartment unknown
	ReasonConflict      Reason = "conflict"       // e.g. a waybill already held by another parcel
	ReasonInvalidState  Reason = "invalid_state"  // e.g. cancel of a deposited parcel
	ReasonRateLimited   Reason = "rate_limited"   // e.g. remote opens per hour exceeded
	ReasonDisabled      Reason = "disabled"       // the compartment is disabled
	ReasonStalePolicy   Reason = "stale_policy"   // policy version not newer than the current one
	ReasonStale         Reason = "stale"          // an entity's newer command (later iat) is in force
	ReasonPartial       Reason = "partial"        // a batch was applied in part; the body lists items
	ReasonHardware      Reason = "hardware"       // a driver failed (relay, bus)
	ReasonInternal      Reason = "internal"       // anything else; see the device log
	ReasonNotSupported  Reason = "not_supported"  // the device does not implement the command
	ReasonInvalidPolicy Reason = "invalid_policy" // policy values out of the device's range
	// ReasonReleaseRefused: an update the locker will not install; Detail starts with
	// the update event's reason (docs/updates.md).
	ReasonReleaseRefused Reason = "release_refused"
)

var reasons = enum.Strings(unknown("reason"),
	ReasonMalformed, ReasonTooLarge, ReasonBadHeader, ReasonBadSignature, ReasonBadAudience,
	ReasonExpired, ReasonNotYetValid, ReasonLifetime, ReasonSchema, ReasonUnknownType, ReasonBusy,
	ReasonShuttingDown, ReasonInterrupted, ReasonNotFound, ReasonConflict, ReasonInvalidState,
	ReasonRateLimited, ReasonDisabled, ReasonStalePolicy, ReasonPartial, ReasonHardware,
	ReasonInternal, ReasonNotSupported, ReasonInvalidPolicy, ReasonStale, ReasonReleaseRefused,
)

// ParseReason parses a reason code.
func ParseReason(s string) (Reason, error) { return reasons.Parse(s) }

// Valid reports whether r is a defined reason.
func (r Reason) Valid() bool { return reasons.Valid(r) }

// Reasons lists every reason.
func Reasons() []Reason { return reasons.Values() }

// EventType names what an event reports.
type EventType string

// Event types. Each says which body it carries (see EventBodyFor).
const (
	EvDeposited    EventType = "deposited"     // ParcelEvent
	EvPickedUp     EventType = "picked_up"     // ParcelEvent
	EvExpired      EventType = "expired"       // ParcelEvent
	EvRetrieved    EventType = "retrieved"     // ParcelEvent
	EvCancelled    EventType = "cancelled"     // ParcelEvent
	EvRecalled     EventType = "recalled"      // ParcelEvent
	EvUnlocked     EventType = "unlocked"      // DoorEvent: the relay was pulsed (not: the door opened)
	EvUnlockFailed EventType = "unlock_failed" // DoorEvent: the driver failed to pulse
	EvDoorOpened   EventType = "door_opened"   // DoorEvent: the sensor saw the door open
	EvDoorClosed   EventType = "door_closed"   // DoorEvent
	EvJammed       EventType = "jammed"        // DoorEvent: unlocked, but the door never opened
	EvForced       EventType = "forced"        // DoorEvent: opened without an unlock
	EvLeftOpen     EventType = "left_open"     // DoorEvent: open longer than the policy allows
	EvThrottled    EventType = "throttled"     // ThrottledEvent
	EvHardware     EventType = "hardware"      // HardwareEvent
	EvHealth       EventType = "health"        // HealthEvent, periodic
	EvReconciled   EventType = "reconciled"    // ReconciledEvent: an operation settled after a restart
	EvWrongParcel  EventType = "wrong_parcel"  // WrongParcelEvent: a handover scan matched no parcel
	// EvGuessing: GuessingEvent, more failed codes or QR scans in an hour than the
	// policy's alarm_failures (ADR 0046).
	EvGuessing EventType = "guessing"
	// EvThrottleCleared: ThrottleClearedEvent, an operator cleared a lock-out.
	EvThrottleCleared EventType = "throttle_cleared"
	// EvClock: ClockEvent, what the device learnt about its time (ADR 0058).
	EvClock EventType = "clock"
	// EvUpdate: UpdateEvent, a step of an update (ADR 0064).
	EvUpdate EventType = "update"
)

var eventTypes = enum.Strings(unknown("event type"),
	EvDeposited, EvPickedUp, EvExpired, EvRetrieved, EvCancelled, EvRecalled, EvUnlocked,
	EvUnlockFailed, EvDoorOpened, EvDoorClosed, EvJammed, EvForced, EvLeftOpen, EvThrottled,
	EvHardware, EvHealth, EvReconciled, EvWrongParcel, EvGuessing, EvThrottleCleared, EvClock, EvUpdate,
)

// ParseEventType parses an event type.
func ParseEventType(s string) (EventType, error) { return eventTypes.Parse(s) }

// Valid reports whether e is a defined event type.
func (e EventType) Valid() bool { return eventTypes.Valid(e) }

// EventTypes lists every event type.
func EventTypes() []EventType { return eventTypes.Values() }

// Outcome is how an operation that was under way when the device stopped was settled
// when it started again (event reconciled).
type Outcome string

// Reconciliation outcomes.
const (
	// OutcomeCompleted: the door was seen open and is shut: the operation completed
	// (a deposit confirmed, a pickup done).
	OutcomeCompleted Outcome = "completed"
	// OutcomeUndone: the door was never seen open and the operation moves no parcel
	// (an operator's opening): it was undone. Builds before ADR 0034 also sent it for
	// a pickup or retrieval, which are now unverified.
	OutcomeUndone Outcome = "undone"
	// OutcomeUnverified: a deposit, pickup, retrieval or cancel (the event's op) whose
	// door was never seen open: nobody knows whether the parcel went in or came out,
	// so the compartment has fault "unverified" until someone looks inside on site
	// and answers resolve-compartment (ADR 0034). A pickup's code still opens it.
	OutcomeUnverified Outcome = "unverified"
)

var outcomes = enum.Strings(unknown("outcome"), OutcomeCompleted, OutcomeUndone, OutcomeUnverified)

// ParseOutcome parses a reconciliation outcome.
func ParseOutcome(s string) (Outcome, error) { return outcomes.Parse(s) }

// Valid reports whether o is a defined outcome.
func (o Outcome) Valid() bool { return outcomes.Valid(o) }

// Outcomes lists every reconciliation outcome.
func Outcomes() []Outcome { return outcomes.Values() }
