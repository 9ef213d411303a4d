package locker

import (
	"github.com/lockerd/lockerd/locker/announce"
	"github.com/lockerd/lockerd/locker/courier"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/policy"
)

// The station's rules are plain values of locker/policy; these names keep the API that
// configuration and the cloud adapter use.
type (
	Policy         = policy.Policy
	CodeEntry      = policy.CodeEntry
	ThrottlePolicy = policy.Throttle
)

// The ranges Policy.Validate accepts for CodeEntry (policy.MinCodeLength, ...).
const (
	MinCodeLength, MaxCodeLength = policy.MinCodeLength, policy.MaxCodeLength
	MinCodeDelay, MaxCodeDelay   = policy.MinCodeDelay, policy.MaxCodeDelay
	MaxAlarmFailures             = policy.MaxAlarmFailures
)

// DefaultPolicy returns the policy a station runs with when nothing else is said.
func DefaultPolicy() Policy { return policy.Default() }

// A courier's credential as the cloud sends it (locker/courier).
type (
	Courier = courier.Courier
	Rights  = courier.Rights
)

// The station's vocabulary is locker/model's; these are its public names here.
type (
	CompartmentID   = model.CompartmentID
	ParcelID        = model.ParcelID
	Compartment     = model.Compartment
	Parcel          = model.Parcel
	CompartmentSpec = model.CompartmentSpec
	Slot            = model.Slot
	Size            = model.Size
	Kind            = model.Kind
	ParcelState     = model.ParcelState
	Op              = model.Op
	EventType       = model.EventType
	Event           = model.Event
	Pickup          = model.Pickup
	CompartmentView = model.CompartmentView
	Status          = model.Status
)

// Sizes, kinds, parcel states and door operations (locker/model).
const (
	SizeUnknown, SizeS, SizeM, SizeL, SizeXL = model.SizeUnknown, model.SizeS, model.SizeM, model.SizeL, model.SizeXL
	KindDoor, KindShelf                      = model.KindDoor, model.KindShelf

	StateAnnounced, StateDeposited, StatePickedUp = model.StateAnnounced, model.StateDeposited, model.StatePickedUp
	StateExpired, StateRetrieved                  = model.StateExpired, model.StateRetrieved
	StateCancelled, StateRecalled                 = model.StateCancelled, model.StateRecalled

	OpNone, OpDeposit, OpCancel               = model.OpNone, model.OpDeposit, model.OpCancel
	OpPickup, OpRetrieve, OpOperator          = model.OpPickup, model.OpRetrieve, model.OpOperator
	FaultUnverified                           = model.FaultUnverified
	ActorRecipient, ActorSystem, ActorStaff   = model.ActorRecipient, model.ActorSystem, model.ActorStaff
	ThrottleCode, ThrottleCourier, ThrottleQR = model.ThrottleCode, model.ThrottleCourier, model.ThrottleQR

	ReconcileCompleted, ReconcileUnverified, ReconcileUndone = model.ReconcileCompleted, model.ReconcileUnverified, model.ReconcileUndone
)

// Event types (locker/model).
const (
	EvAnnounced, EvDeposited, EvDepositAborted  = model.EvAnnounced, model.EvDeposited, model.EvDepositAborted
	EvPickedUp, EvExpired, EvRetrieved          = model.EvPickedUp, model.EvExpired, model.EvRetrieved
	EvCancelled, EvRecalled, EvPurged           = model.EvCancelled, model.EvRecalled, model.EvPurged
	EvVerifierSet, EvReserved, EvUnlocked       = model.EvVerifierSet, model.EvReserved, model.EvUnlocked
	EvUnlockFailed, EvDoorOpened, EvDoorClosed  = model.EvUnlockFailed, model.EvDoorOpened, model.EvDoorClosed
	EvJammed, EvForced, EvLeftOpen              = model.EvJammed, model.EvForced, model.EvLeftOpen
	EvThrottled, EvGuessing, EvWrongParcel      = model.EvThrottled, model.EvGuessing, model.EvWrongParcel
	EvThrottleCleared, EvResolved               = model.EvThrottleCleared, model.EvResolved
	EvCompartmentDisabled, EvCompartmentEnabled = model.EvCompartmentDisabled, model.EvCompartmentEnabled
	EvCourierUpserted, EvCourierRevoked         = model.EvCourierUpserted, model.EvCourierRevoked
	EvPolicyChanged, EvReconciled, EvStarted    = model.EvPolicyChanged, model.EvReconciled, model.EvStarted
)

// ParseSize parses a size name (S, M, L, XL; case-sensitive as on the wire).
func ParseSize(name string) (Size, error) { return model.ParseSize(name) }

// CommandReason returns the reason to pass to a Station method acting on behalf of
// cloud command id (CancelParcel, Recall, SetEnabled, OpenCompartment).
func CommandReason(reason, id string) string { return model.CommandReason(reason, id) }

// What the cloud says of a parcel before it arrives (locker/announce).
type (
	Announcement = announce.Announcement
	Verifiers    = announce.Verifiers
)

// ErrConflict is returned when an announcement reuses a waybill digest held by another
// parcel id.
var ErrConflict = announce.ErrConflict
