package protocol

import (
	"encoding/json"
	"fmt"
	"time"
)

// The bodies of done replies. Commands not listed here reply with no body.

// AnnounceResult lists the per-parcel outcome of an announce batch. It is
// present when some parcels were refused (reply reason partial).
type AnnounceResult struct {
	Items []ItemResult `json:"items"`
}

// ItemResult is the outcome for one parcel of a batch.
type ItemResult struct {
	Parcel string `json:"parcel"`
	Status Status `json:"status"`           // done or refused
	Reason Reason `json:"reason,omitempty"` // when refused
	// Revision, with reason stale, is the revision (iat) of the parcel's command in
	// force (docs/adr/0055-command-ordering-and-jti-reuse.md).
	Revision int64 `json:"revision,omitempty"`
}

// InventoryResult answers inventory: every compartment and its occupants,
// by opaque id only.
type InventoryResult struct {
	Compartments []CompartmentInfo `json:"compartments"`
}

// CompartmentInfo describes one compartment.
type CompartmentInfo struct {
	ID       uint16   `json:"id"`
	Label    string   `json:"label,omitempty"` // what is printed on the door
	Size     Size     `json:"size"`
	Kind     string   `json:"kind"` // "door" or "shelf"
	Disabled bool     `json:"disabled,omitempty"`
	Fault    string   `json:"fault,omitempty"` // e.g. "jammed"
	Open     bool     `json:"open,omitempty"`  // last sensed door state
	Parcels  []string `json:"parcels,omitempty"`
}

// StatusResult answers status.
type StatusResult struct {
	Boot          string `json:"boot"`
	Version       string `json:"version"`
	UptimeS       int64  `json:"uptime_s"`
	Parcels       int    `json:"parcels"` // waiting: announced or deposited
	Compartments  int    `json:"compartments"`
	Free          int    `json:"free"`
	Disabled      int    `json:"disabled"`
	Outbox        int    `json:"outbox"`
	PolicyVersion uint32 `json:"policy_version"`
	// LegacyParcels counts the waiting parcels still under a scheme-1 verifier, and
	// CodeFailures24h the failed code evaluations of the last 24 hours (ADR 0046).
	LegacyParcels   int               `json:"legacy_parcels,omitempty"`
	CodeFailures24h int64             `json:"code_failures_24h,omitempty"`
	Drivers         map[string]Health `json:"drivers,omitempty"`
	// Identity is the device's X25519 public key in hex (not secret): a cloud that
	// registered it out of band can check it; the simulator enrols with it.
	Identity string `json:"x25519_public,omitempty"`
}

// AuditRangeResult answers audit-range. Next is the seq to ask for next, or
// 0 when the range is exhausted.
type AuditRangeResult struct {
	Entries []AuditEntry `json:"entries"`
	Next    uint64       `json:"next,omitempty"`
}

// AuditEntry is one entry of the device's hash-chained audit log. Type is the
// domain's event name, a superset of EventType.
type AuditEntry struct {
	Seq         uint64    `json:"seq"`
	ID          string    `json:"id"`
	Type        string    `json:"type"`
	Time        time.Time `json:"time"`
	Parcel      string    `json:"parcel,omitempty"`
	Compartment uint16    `json:"compartment,omitempty"`
	Actor       string    `json:"actor,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Hash        string    `json:"hash,omitempty"` // chain hash, hex
}

// PingResult answers ping.
type PingResult struct {
	Time time.Time `json:"time"` // the device's clock, to spot skew
	Boot string    `json:"boot"`
}

// TimeResult answers a time command: the device's wall clock (the system's, which
// lockerd does not set) and what the device's trusted time now rests on (sync: its
// time service; command: a command's iat confirmed the wall clock; time: this or an
// earlier time command). The reply's own time is the trusted time.
type TimeResult struct {
	Wall   time.Time `json:"wall"`
	Source string    `json:"source"`
}

// NewResult returns a new zero result body for a command type, or nil if
// the type's done reply carries no body.
func NewResult(t CommandType) any {
	switch t {
	case CmdAnnounce:
		return &AnnounceResult{}
	case CmdInventory:
		return &InventoryResult{}
	case CmdStatus:
		return &StatusResult{}
	case CmdAuditRange:
		return &AuditRangeResult{}
	case CmdPing:
		return &PingResult{}
	case CmdTime:
		return &TimeResult{}
	case CmdEraseSubject:
		return &EraseSubjectResult{}
	}
	return nil
}

// DecodeResult decodes the body of a reply to a command of type t into a
// new result (see NewResult), ignoring unknown members.
func DecodeResult(t CommandType, raw json.RawMessage) (any, error) {
	res := NewResult(t)
	if res == nil {
		if len(raw) != 0 {
			return nil, schemaErr("body", ProblemUnknownField, "%s replies carry no body", t)
		}
		return nil, nil
	}
	if len(raw) == 0 {
		if t == CmdAnnounce {
			return res, nil // every parcel applied: nothing to list
		}
		return nil, schemaErr("body", ProblemMissingField, "required for %s", t)
	}
	if err := decodeLenient(raw, res, "body"); err != nil {
		return nil, err
	}
	return res, nil
}

// EncodeResult encodes a result body for a reply.
func EncodeResult(res any) (json.RawMessage, error) {
	out, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("protocol: encode result: %w", err)
	}
	return out, nil
}
