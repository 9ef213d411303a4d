package protocol

import (
	"time"
	"unicode/utf8"
)

// Limits of command bodies.
const (
	// MaxAnnounceBatch is the most parcels one announce command may carry.
	MaxAnnounceBatch = 100
	// MaxAuditRange is the most audit entries one audit-range reply returns.
	MaxAuditRange = 500
	// maxHintRunes is an ellipsis plus at most four characters of the number.
	maxHintRunes = 5
)

// AnnounceBody announces parcels that couriers will deposit.
type AnnounceBody struct {
	Parcels []AnnouncedParcel `json:"parcels"`
}

// AnnouncedParcel is one parcel of an announce batch. It carries digests
// computed by the cloud with keys both sides derive, never the tracking
// number or the pickup code.
type AnnouncedParcel struct {
	Parcel   string  `json:"parcel"`             // opaque parcel id assigned by the cloud
	Waybill  Digest  `json:"waybill"`            // HMAC of the canonical tracking number
	Size     Size    `json:"size"`               // expected size class
	Verifier *Digest `json:"verifier,omitempty"` // scheme 1 (the code alone): only while the policy's legacy_codes holds
	// CodeVerifier is the scheme-2 verifier, HMAC(pickup-code-2 key, code and the
	// phone's last four digits), and QRVerifier that of the pickup QR's secret
	// (ADR 0046); absent: none, or set later.
	CodeVerifier *Digest   `json:"code_verifier,omitempty"`
	QRVerifier   *Digest   `json:"qr_verifier,omitempty"`
	Expires      time.Time `json:"expires,omitzero"` // drop if not deposited by then; absent: policy
	Hint         string    `json:"hint,omitempty"`   // masked number: "…" and at most 4 characters
}

// Type implements Body.
func (*AnnounceBody) Type() CommandType { return CmdAnnounce }

// Validate implements Body.
func (b *AnnounceBody) Validate() error {
	switch {
	case len(b.Parcels) == 0:
		return schemaErr("body.parcels", ProblemBadValue, "empty batch")
	case len(b.Parcels) > MaxAnnounceBatch:
		return schemaErr("body.parcels", ProblemTooMany, "%d parcels, at most %d per batch", len(b.Parcels), MaxAnnounceBatch)
	}
	seen := make(map[string]struct{}, len(b.Parcels))
	for i := range b.Parcels {
		p := &b.Parcels[i]
		// Paths are built only for an error: a valid batch costs none.
		at := func(field string) string { return index("body.parcels", i) + "." + field }
		if !ValidID(p.Parcel) {
			return checkID(at("parcel"), p.Parcel)
		}
		if _, dup := seen[p.Parcel]; dup {
			return schemaErr(at("parcel"), ProblemBadValue, "parcel id repeated in the batch")
		}
		seen[p.Parcel] = struct{}{}
		if p.Waybill.IsZero() {
			return checkDigest(at("waybill"), p.Waybill)
		}
		if !p.Size.Valid() {
			return schemaErr(at("size"), ProblemBadValue, "want S, M, L or XL")
		}
		for _, v := range []struct {
			name string
			d    *Digest
		}{{"verifier", p.Verifier}, {"code_verifier", p.CodeVerifier}, {"qr_verifier", p.QRVerifier}} {
			if v.d != nil && v.d.IsZero() {
				return checkDigest(at(v.name), *v.d)
			}
		}
		if p.Hint != "" && !validHint(p.Hint) {
			return checkHint(at("hint"), p.Hint)
		}
	}
	return nil
}

// SetVerifierBody sets or replaces the verifiers of a parcel: any of the scheme-1
// Verifier (only while legacy_codes holds), the scheme-2 CodeVerifier (which also
// replaces a scheme-1 one) and the QRVerifier; at least one.
type SetVerifierBody struct {
	Parcel       string  `json:"parcel"`
	Verifier     *Digest `json:"verifier,omitempty"`
	CodeVerifier *Digest `json:"code_verifier,omitempty"`
	QRVerifier   *Digest `json:"qr_verifier,omitempty"`
}

// Type implements Body.
func (*SetVerifierBody) Type() CommandType { return CmdSetVerifier }

// Validate implements Body.
func (b *SetVerifierBody) Validate() error {
	if err := checkID("body.parcel", b.Parcel); err != nil {
		return err
	}
	for _, v := range []struct {
		name string
		d    *Digest
	}{{"body.verifier", b.Verifier}, {"body.code_verifier", b.CodeVerifier}, {"body.qr_verifier", b.QRVerifier}} {
		if v.d != nil && v.d.IsZero() {
			return checkDigest(v.name, *v.d)
		}
	}
	if b.Verifier == nil && b.CodeVerifier == nil && b.QRVerifier == nil {
		return schemaErr("body", ProblemMissingField, "want verifier, code_verifier or qr_verifier")
	}
	return nil
}

// CancelBody withdraws an announced parcel that has not been deposited.
type CancelBody struct {
	Parcel string `json:"parcel"`
}

// Type implements Body.
func (*CancelBody) Type() CommandType { return CmdCancel }

// Validate implements Body.
func (b *CancelBody) Validate() error { return checkID("body.parcel", b.Parcel) }

// RecallBody marks a deposited parcel for retrieval by a courier.
type RecallBody struct {
	Parcel string `json:"parcel"`
}

// Type implements Body.
func (*RecallBody) Type() CommandType { return CmdRecall }

// Validate implements Body.
func (b *RecallBody) Validate() error { return checkID("body.parcel", b.Parcel) }

// CourierUpsertBody creates or replaces a courier: the digest of its badge token,
// which the locker files the courier under, and the verifier of token and PIN
// (docs/privacy.md §3). Credential, the single digest of earlier versions, is refused
// with ProblemBadValue at body.credential: a locker cannot find a courier by it.
// Badge and Verifier are required; Validate, not the decoder, says so, so that a body
// of the old form gets that answer rather than a missing badge.
type CourierUpsertBody struct {
	Courier    string  `json:"courier"`             // opaque courier id
	Badge      Digest  `json:"badge,omitzero"`      // HMAC(courier-badge key, token); required
	Verifier   Digest  `json:"verifier,omitzero"`   // HMAC(courier key, token, PIN); required
	Rights     []Right `json:"rights"`              // non-empty, no repeats
	Credential Digest  `json:"credential,omitzero"` // retired: refused
}

// Type implements Body.
func (*CourierUpsertBody) Type() CommandType { return CmdCourierUpsert }

// Validate implements Body.
func (b *CourierUpsertBody) Validate() error {
	if err := checkID("body.courier", b.Courier); err != nil {
		return err
	}
	if !b.Credential.IsZero() {
		return schemaErr("body.credential", ProblemBadValue, "retired: send badge and verifier (docs/protocol.md, courier-upsert)")
	}
	for _, d := range []struct {
		path string
		d    Digest
	}{{"body.badge", b.Badge}, {"body.verifier", b.Verifier}} {
		if d.d.IsZero() {
			return schemaErr(d.path, ProblemMissingField, "required")
		}
	}
	if b.Badge == b.Verifier {
		return schemaErr("body.verifier", ProblemBadValue, "equal to the badge digest")
	}
	if len(b.Rights) == 0 {
		return schemaErr("body.rights", ProblemBadValue, "at least one right")
	}
	seen := map[Right]bool{}
	for i, r := range b.Rights {
		if !r.Valid() {
			return schemaErr(index("body.rights", i), ProblemBadValue, "want deposit or retrieve")
		}
		if seen[r] {
			return schemaErr(index("body.rights", i), ProblemBadValue, "right repeated")
		}
		seen[r] = true
	}
	return nil
}

// CourierRevokeBody removes a courier credential.
type CourierRevokeBody struct {
	Courier string `json:"courier"`
}

// Type implements Body.
func (*CourierRevokeBody) Type() CommandType { return CmdCourierRevoke }

// Validate implements Body.
func (b *CourierRevokeBody) Validate() error { return checkID("body.courier", b.Courier) }

// OpenCompartmentBody opens one door remotely. The device audits it and
// limits how often it may happen.
type OpenCompartmentBody struct {
	Compartment uint16     `json:"compartment"` // 1..65535
	Reason      OpenReason `json:"reason"`
	Operator    string     `json:"operator"` // opaque operator id, audited
}

// Type implements Body.
func (*OpenCompartmentBody) Type() CommandType { return CmdOpenCompartment }

// Validate implements Body.
func (b *OpenCompartmentBody) Validate() error {
	if err := checkCompartment("body.compartment", b.Compartment); err != nil {
		return err
	}
	if !b.Reason.Valid() {
		return schemaErr("body.reason", ProblemBadValue, "not a known open reason")
	}
	return checkID("body.operator", b.Operator)
}

// DisableCompartmentBody takes a compartment out of service.
type DisableCompartmentBody struct {
	Compartment uint16 `json:"compartment"`
	Operator    string `json:"operator"`
}

// Type implements Body.
func (*DisableCompartmentBody) Type() CommandType { return CmdDisableCompartment }

// Validate implements Body.
func (b *DisableCompartmentBody) Validate() error {
	if err := checkCompartment("body.compartment", b.Compartment); err != nil {
		return err
	}
	return checkID("body.operator", b.Operator)
}

// EnableCompartmentBody returns a compartment to service.
type EnableCompartmentBody struct {
	Compartment uint16 `json:"compartment"`
	Operator    string `json:"operator"`
}

// Type implements Body.
func (*EnableCompartmentBody) Type() CommandType { return CmdEnableCompartment }

// Validate implements Body.
func (b *EnableCompartmentBody) Validate() error {
	if err := checkCompartment("body.compartment", b.Compartment); err != nil {
		return err
	}
	return checkID("body.operator", b.Operator)
}

// ResolveCompartmentBody settles an operation that a restart left unverified (the door
// was never seen open, so the station cannot tell whether the parcel went in or came
// out; the compartment is faulted until this): Present says someone found the parcel
// in the compartment, or did not. A deposit found becomes deposited, one not found is
// undone; a pickup, retrieval or cancel found present leaves the parcel as it was, one
// found absent completes (ADR 0034).
type ResolveCompartmentBody struct {
	Compartment uint16 `json:"compartment"`
	Present     bool   `json:"present"`
	Operator    string `json:"operator"`
}

// Type implements Body.
func (*ResolveCompartmentBody) Type() CommandType { return CmdResolveCompartment }

// Validate implements Body.
func (b *ResolveCompartmentBody) Validate() error {
	if err := checkCompartment("body.compartment", b.Compartment); err != nil {
		return err
	}
	return checkID("body.operator", b.Operator)
}

// InventoryBody asks for the compartments and what they hold (opaque ids only).
type InventoryBody struct{}

// Type implements Body.
func (*InventoryBody) Type() CommandType { return CmdInventory }

// Validate implements Body.
func (*InventoryBody) Validate() error { return nil }

// StatusBody asks for a status summary.
type StatusBody struct{}

// Type implements Body.
func (*StatusBody) Type() CommandType { return CmdStatus }

// Validate implements Body.
func (*StatusBody) Validate() error { return nil }

// PingBody asks for a reply and nothing else.
type PingBody struct{}

// Type implements Body.
func (*PingBody) Type() CommandType { return CmdPing }

// Validate implements Body.
func (*PingBody) Validate() error { return nil }

// TimeBody carries nothing: the time is the command's signed iat.
type TimeBody struct{}

// Type implements Body.
func (*TimeBody) Type() CommandType { return CmdTime }

// Validate implements Body.
func (*TimeBody) Validate() error { return nil }

// ClockExempt reports whether commands of type t are checked without the device's
// clock: exp not against it, iat not against its skew. Only the time command, whose
// replay the device bounds by its iat instead (§3.2 of docs/protocol.md).
func ClockExempt(t CommandType) bool { return t == CmdTime }

// AuditRangeBody asks for audit entries with From <= seq <= To.
type AuditRangeBody struct {
	From  uint64 `json:"from"`
	To    uint64 `json:"to,omitempty"`    // absent or 0: up to the newest
	Limit int    `json:"limit,omitempty"` // absent or 0: MaxAuditRange
}

// Type implements Body.
func (*AuditRangeBody) Type() CommandType { return CmdAuditRange }

// Validate implements Body.
func (b *AuditRangeBody) Validate() error {
	if b.To != 0 && b.To < b.From {
		return schemaErr("body.to", ProblemBadValue, "before from")
	}
	if b.Limit < 0 || b.Limit > MaxAuditRange {
		return schemaErr("body.limit", ProblemBadValue, "want 0..%d", MaxAuditRange)
	}
	return nil
}

func checkID(path, id string) error {
	if !ValidID(id) {
		return schemaErr(path, ProblemBadIdentifier, "want 1..64 of A-Z a-z 0-9 . _ : -")
	}
	return nil
}

func checkDigest(path string, d Digest) error {
	if d.IsZero() {
		return schemaErr(path, ProblemBadDigest, "all zeros")
	}
	return nil
}

func checkCompartment(path string, c uint16) error {
	if c == 0 {
		return schemaErr(path, ProblemBadValue, "want 1..65535")
	}
	return nil
}

// validHint is the fast, allocation-free form of checkHint.
func validHint(hint string) bool { return checkHint("", hint) == nil }

// checkHint enforces the masking rule for tracking numbers: nothing but an
// optional leading ellipsis and at most the last four letters or digits.
func checkHint(path, hint string) error {
	if hint == "" {
		return nil
	}
	if utf8.RuneCountInString(hint) > maxHintRunes {
		return schemaErr(path, ProblemTooLong, "at most an ellipsis and 4 characters")
	}
	rest := hint
	if r, n := utf8.DecodeRuneInString(rest); r == '…' {
		rest = rest[n:]
	}
	if len(rest) == 0 || len(rest) > 4 {
		return schemaErr(path, ProblemBadValue, "want \"…\" and 1..4 letters or digits")
	}
	for i := 0; i < len(rest); i++ {
		if !isAlnum(rest[i]) {
			return schemaErr(path, ProblemBadValue, "want \"…\" and 1..4 letters or digits")
		}
	}
	return nil
}
