package model

import "errors"

// Refusals the concerns share; package locker re-exports them.
var (
	// ErrState is wrapped by refusals of an operation the target's current state does
	// not allow (recall a parcel that is not in a compartment, resolve a compartment
	// that is not unverified, …).
	ErrState = errors.New("locker: not possible in the current state")
	// ErrBusy refuses an operation at a compartment busy with another.
	ErrBusy = errors.New("locker: compartment busy with another operation")
)
