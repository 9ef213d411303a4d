package locker

import (
	"github.com/lockerd/lockerd/locker/courier"
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
