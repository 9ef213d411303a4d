// Package locker is the domain of a parcel locker or staffed pickup station: compartments,
// parcels and their lifecycle, the courier deposit and recipient pickup flows, expiry and
// retrieval, alarms, the audit log and the event outbox.
//
// It knows nothing of GPIO, serial lines or MQTT. Hardware reaches it through the small
// interfaces in hw.go (Unlocker, DoorReader) and through Station.DoorChanged; the cloud
// reaches it through the command methods in cloud.go and, for commands recorded with
// their effect, Station.Atomically (atomic.go); events leave through the durable outbox. Every state change goes through the Station, which owns its state and commits
// each transition to its store (locker/store) before the physical effect it causes.
//
// Plaintext tracking numbers, pickup codes, badge tokens and PINs exist only in RAM
// between their entry and their digest: the store, the audit log, the outbox, logs and
// errors hold keyed digests, sealed per epoch (see docs/privacy.md), opaque ids and masked
// hints only.
package locker
