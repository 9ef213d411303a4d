package locker

import (
	"errors"

	"github.com/lockerd/lockerd/locker/announce"
	"github.com/lockerd/lockerd/locker/door"
	"github.com/lockerd/lockerd/locker/gate"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/store"
)

// Sentinel errors callers branch on. Error strings never carry a code, PIN or tracking
// number: only opaque ids and masked hints.
var (
	ErrUnknownParcel      = store.ErrUnknownParcel
	ErrUnknownCompartment = errors.New("locker: unknown compartment")
	ErrBadCredentials     = errors.New("locker: badge or PIN not recognised")
	ErrNotLoggedIn        = errors.New("locker: no courier session")
	ErrNoRights           = errors.New("locker: courier lacks the right for this")
	ErrNoFreeCompartment  = errors.New("locker: no free compartment fits the parcel")
	ErrSizeRequired       = errors.New("locker: parcel not announced: choose its size")
	ErrDuplicateScan      = errors.New("locker: same parcel scanned again within the repeat window")
	ErrAlreadyHere        = errors.New("locker: parcel is already in the locker")
	ErrNotDepositable     = errors.New("locker: parcel cannot be deposited in its current state")
	ErrNoPending          = errors.New("locker: nothing to cancel")
	ErrWrongCode          = errors.New("locker: code not recognised")
	// ErrCodeFormat refuses a code, phone digits or QR of the wrong shape before any
	// lookup: it costs no guess (ADR 0046).
	ErrCodeFormat = errors.New("locker: code, phone digits or QR of the wrong format")
	// ErrInputBusy refuses a code while another from the same input waits for the
	// code gate; it costs nothing.
	ErrInputBusy = errors.New("locker: another code from this input is being checked")
	// ErrLegacyCode refuses a scheme-1 verifier (a code alone) while the policy's
	// legacy_codes is not set.
	ErrLegacyCode  = announce.ErrLegacyCode
	ErrThrottled   = gate.ErrThrottled
	ErrWrongParcel = errors.New("locker: scanned parcel is not the one being handed over")
	ErrNoHandover  = errors.New("locker: no handover waiting")
	ErrBusy        = door.ErrBusy
	ErrUnlock      = errors.New("locker: unlock failed")
	// ErrUnlockUnconfirmed is wrapped by an Unlocker whose pulse may have gone out but
	// was not confirmed (an RS-485 frame sent, its reply lost). The station does not
	// undo the operation then, as if nothing had happened: the door sensor, or the
	// door-open timeout, says whether the door opened (ADR 0010).
	ErrUnlockUnconfirmed = errors.New("locker: unlock sent, not confirmed")
	ErrClosed            = errors.New("locker: station closed")
	// ErrState is wrapped by refusals of an operation the target's current state does
	// not allow (recall a parcel that is not in a compartment, resolve a compartment
	// that is not unverified, …).
	ErrState = model.ErrState
)

// ThrottledError is returned while entry is locked; it matches ErrThrottled
// (gate.ThrottledError).
type ThrottledError = gate.ThrottledError
