// Package control is lockerd's local API: JSON over HTTP on a Unix socket, for the front
// panel (keypad and kiosk services), the installer's tools and, when enabled, local
// provisioning before the cloud link exists. Requests carry codes, PINs and scans in
// their bodies; they are digested by the station and never logged: the access log has
// method, path, status and duration only.
package control

import (
	"errors"
	"net/http"
	"time"

	"github.com/lockerd/lockerd/locker"
)

// API paths.
const (
	PathPickup   = "/v1/pickup"
	PathLogin    = "/v1/courier/login"
	PathScan     = "/v1/courier/scan"
	PathCancel   = "/v1/courier/cancel"
	PathRetrieve = "/v1/courier/retrieve"
	PathLogout   = "/v1/courier/logout"
	PathHandover = "/v1/handover"
	PathStatus   = "/v1/status"
	PathInv      = "/v1/inventory"
	PathIdentity = "/v1/identity"
	PathDrivers  = "/v1/drivers"
	PathAnnounce = "/v1/admin/announce"
	PathCourier  = "/v1/admin/courier"
	PathResolve  = "/v1/admin/resolve"
)

// ResolveRequest settles an unverified compartment (a deposit, pickup, retrieval or
// cancel a restart could not settle) after someone looked inside (admin): Present says
// the parcel is there.
type ResolveRequest struct {
	Compartment int    `json:"compartment"`
	Present     bool   `json:"present"`
	Operator    string `json:"operator"`
}

// CodeRequest is a recipient's code entry.
// With QR set it is a pickup QR's secret (what follows "LKQ:"); otherwise the code and
// the recipient's phone's last four digits (ADR 0046), or while the policy's
// legacy_codes holds a scheme-1 code alone.
type CodeRequest struct {
	Code  string `json:"code,omitempty"`
	Phone string `json:"phone,omitempty"`
	QR    string `json:"qr,omitempty"`
}

// LoginRequest is a courier's badge (or QR token) and PIN.
type LoginRequest struct {
	Badge string `json:"badge"`
	PIN   string `json:"pin"`
}

// LoginReply carries the session id for the scans that follow.
type LoginReply struct {
	Session string `json:"session"`
}

// ScanRequest is a courier's (or, for Handover, staff's) scan.
type ScanRequest struct {
	Session  string `json:"session,omitempty"`
	Handover string `json:"handover,omitempty"` // handover: the code entry's (Pickup.Handover)
	Scan     string `json:"scan"`
	Size     string `json:"size,omitempty"` // S, M, L, XL: for parcels the cloud did not announce
}

// SessionRequest names a courier session.
type SessionRequest struct {
	Session string `json:"session"`
}

// SlotsReply lists slots (retrieval).
type SlotsReply struct {
	Slots []locker.Slot `json:"slots"`
}

// IdentityReply is the device's public identity, which the cloud needs to derive the
// locker's keys. It is not secret.
type IdentityReply struct {
	LockerID string `json:"locker_id"`
	Public   string `json:"x25519_public"`
}

// DriverStatus is one hardware driver's state, for installers and the kiosk: whether it
// loaded, whether it works now, and why not.
type DriverStatus struct {
	Name   string    `json:"name"`
	Kind   string    `json:"kind"`
	Load   string    `json:"load"` // loaded, skipped or failed
	OK     bool      `json:"ok"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// AnnounceRequest is a batch of announcements (admin).
type AnnounceRequest struct {
	Parcels []Announcement `json:"parcels"`
}

// Announcement is one parcel announcement with digests computed by the cloud.
type Announcement struct {
	ID       string `json:"id"`
	Waybill  string `json:"waybill"`            // hex digest
	Verifier string `json:"verifier,omitempty"` // hex digest, scheme 1: only while legacy_codes holds
	// CodeVerifier (scheme 2: the code and the phone's last four) and QRVerifier, hex
	// digests (ADR 0046).
	CodeVerifier string    `json:"code_verifier,omitempty"`
	QRVerifier   string    `json:"qr_verifier,omitempty"`
	Size         string    `json:"size"`
	Hint         string    `json:"hint,omitempty"`
	Until        time.Time `json:"until,omitzero"`
}

// AnnounceReply gives one error string per announcement ("" when applied).
type AnnounceReply struct {
	Errors []string `json:"errors"`
}

// CourierRequest stores a courier (admin): its badge digest and PIN verifier, hex
// (docs/privacy.md §3). Credential, the single digest of earlier builds, is refused
// with an error that says so.
type CourierRequest struct {
	ID         string        `json:"id"`
	Badge      string        `json:"badge"`    // HMAC(courier-badge key, token)
	Verifier   string        `json:"verifier"` // HMAC(courier key, token, PIN)
	Rights     locker.Rights `json:"rights"`
	Credential string        `json:"credential,omitempty"` // retired
}

// ErrorReply is the body of every non-2xx answer. Reason is a stable machine-readable
// code; Error a sentence for people.
type ErrorReply struct {
	Error        string `json:"error"`
	Reason       string `json:"reason"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
}

// reasons maps the station's sentinel errors to stable reason codes and HTTP statuses.
var reasons = []struct {
	err    error
	reason string
	status int
}{
	{locker.ErrThrottled, "throttled", http.StatusTooManyRequests},
	{locker.ErrWrongCode, "wrong_code", http.StatusNotFound},
	{locker.ErrCodeFormat, "code_format", http.StatusBadRequest},
	{locker.ErrInputBusy, "busy", http.StatusConflict},
	{locker.ErrLegacyCode, "not_supported", http.StatusUnprocessableEntity},
	{locker.ErrBadCredentials, "bad_credentials", http.StatusUnauthorized},
	{locker.ErrNotLoggedIn, "not_logged_in", http.StatusUnauthorized},
	{locker.ErrNoRights, "no_rights", http.StatusForbidden},
	{locker.ErrNoFreeCompartment, "no_free_compartment", http.StatusConflict},
	{locker.ErrSizeRequired, "size_required", http.StatusUnprocessableEntity},
	{locker.ErrDuplicateScan, "duplicate_scan", http.StatusConflict},
	{locker.ErrAlreadyHere, "already_here", http.StatusConflict},
	{locker.ErrNotDepositable, "not_depositable", http.StatusConflict},
	{locker.ErrNoPending, "nothing_pending", http.StatusConflict},
	{locker.ErrWrongParcel, "wrong_parcel", http.StatusConflict},
	{locker.ErrNoHandover, "no_handover", http.StatusConflict},
	{locker.ErrBusy, "busy", http.StatusConflict},
	{locker.ErrUnlock, "unlock_failed", http.StatusBadGateway},
	{locker.ErrUnknownParcel, "unknown_parcel", http.StatusNotFound},
	{locker.ErrUnknownCompartment, "unknown_compartment", http.StatusNotFound},
	{locker.ErrClosed, "closed", http.StatusServiceUnavailable},
	{locker.ErrState, "invalid_state", http.StatusConflict},
	{ErrForbidden, "forbidden", http.StatusForbidden},
	{errBadScan, "bad_scan", http.StatusBadRequest},
	{errBadRequest, "bad_request", http.StatusBadRequest},
	{errNotFound, "not_found", http.StatusNotFound},
	{errMethod, "method_not_allowed", http.StatusMethodNotAllowed},
}

var (
	errBadScan    = errors.New("control: scan refused")
	errBadRequest = errors.New("control: bad request")
	// errNotFound and errMethod answer a path the server does not have and a method
	// the path does not take, as JSON like every other refusal (ErrorReply).
	errNotFound = errors.New("control: no such endpoint")
	errMethod   = errors.New("control: method not allowed")
)

// Error is a refusal from the station as the client sees it.
type Error struct {
	Status     int
	Reason     string
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// Is matches the station sentinel with the same reason, so that callers of the client
// can use errors.Is(err, locker.ErrWrongCode) as in-process callers do.
func (e *Error) Is(target error) bool {
	for _, r := range reasons {
		if r.reason == e.Reason {
			return target == r.err
		}
	}
	return false
}
