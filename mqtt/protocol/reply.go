package protocol

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lockerd/lockerd/mqtt/internal/strictjson"
)

// maxDetail bounds the free-text detail of a reply.
const maxDetail = 200

// Reply answers one command on the locker's reply topic. A command gets an
// optional StatusAccepted reply and then exactly one final reply; a
// duplicate of a known command gets the stored final reply again.
type Reply struct {
	ID     string          `json:"id,omitempty"`     // the command's jti; absent if it was unreadable
	Ref    string          `json:"ref"`              // CommandRef of the exact payload answered
	Typ    CommandType     `json:"typ,omitempty"`    // the command's type, when known
	Status Status          `json:"status"`           // see Status
	Reason Reason          `json:"reason,omitempty"` // required unless accepted or done
	Detail string          `json:"detail,omitempty"` // short and value-free, for people
	Time   time.Time       `json:"time"`
	Body   json.RawMessage `json:"body,omitempty"` // result of a done command, per type
}

// CommandRef identifies the exact bytes of a received command: unpadded
// base64url of their SHA-256. A sender matches replies on it as well as on
// the id, so a refusal provoked by a forged command that reuses a genuine
// command's id is not mistaken for the answer to the genuine one.
func CommandRef(payload []byte) string {
	sum := sha256.Sum256(payload)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Check validates a reply's values; encoders call it before publishing.
func (r *Reply) Check() error { return r.check(false) }

// check validates r. A decoder (decoding) accepts a reason this build does not
// know, if it is well formed: reasons may be added (§7), and a newer device's
// refusal must still read as a refusal, not as no answer at all.
func (r *Reply) check(decoding bool) error {
	switch {
	case r.ID != "" && !ValidID(r.ID):
		return schemaErr("id", ProblemBadIdentifier, "want 1..64 of A-Z a-z 0-9 . _ : -")
	case len(r.Ref) != 43:
		return schemaErr("ref", ProblemBadValue, "want 43 base64url characters")
	case r.Typ != "" && !r.Typ.Valid():
		return schemaErr("typ", ProblemUnknownType, "not a known command type")
	case !r.Status.Valid():
		return schemaErr("status", ProblemBadValue, "not a known status")
	case r.Reason != "" && !r.Reason.Valid() && !(decoding && ValidID(string(r.Reason))):
		return schemaErr("reason", ProblemBadValue, "not a known reason")
	case r.Reason == "" && r.Status != StatusAccepted && r.Status != StatusDone:
		return schemaErr("reason", ProblemMissingField, "required with status %s", r.Status)
	case len(r.Detail) > maxDetail || !utf8.ValidString(r.Detail):
		return schemaErr("detail", ProblemTooLong, "at most %d bytes of UTF-8", maxDetail)
	case r.Time.IsZero():
		return schemaErr("time", ProblemBadValue, "zero time")
	}
	return nil
}

// EncodeReply checks r and encodes it.
func EncodeReply(r *Reply) ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	out, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("protocol: encode reply: %w", err)
	}
	return out, nil
}

// DecodeReply decodes and checks a reply, ignoring unknown members and accepting
// a well-formed reason this build does not know (Reason.Valid says whether it does).
func DecodeReply(payload []byte) (*Reply, error) {
	var r Reply
	if err := decodeLenient(payload, &r, ""); err != nil {
		return nil, err
	}
	if err := r.check(true); err != nil {
		return nil, err
	}
	return &r, nil
}

// Limits of a reply message that carries several replies (ADR 0031).
const (
	// MaxReplyBatch is the most replies one message carries.
	MaxReplyBatch = 512
	// MaxReplyMessage is the size a device keeps a message of several replies
	// within; a single reply may be larger (an audit range).
	MaxReplyMessage = 64 << 10
)

// JoinReplies makes one reply message of encoded replies: the reply itself when
// there is one, else a JSON array of them in order. The caller keeps within
// MaxReplyBatch and MaxReplyMessage.
func JoinReplies(encoded [][]byte) []byte {
	if len(encoded) == 1 {
		return encoded[0]
	}
	n := 1 + len(encoded)
	for _, e := range encoded {
		n += len(e)
	}
	out := make([]byte, 0, n)
	for i, e := range encoded {
		if i == 0 {
			out = append(out, '[')
		} else {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	return append(out, ']')
}

// DecodeReplies decodes a reply message: one reply (a JSON object) or several
// (an array of 1 to MaxReplyBatch replies, in the order they were made), each
// checked as DecodeReply does. A receiver handles both shapes: a device answers
// commands it executed together in one message (ADR 0031).
//
// An array's replies are decoded one by one: DecodeReplies returns those that pass,
// in order, with an error naming the index of each that did not, so that one reply
// the receiver cannot read (say, a newer device's new reason) does not hide the
// others. A payload that is neither yields no replies.
func DecodeReplies(payload []byte) ([]*Reply, error) {
	if i := firstNonSpace(payload); i < 0 || payload[i] != '[' {
		r, err := DecodeReply(payload)
		if err != nil {
			return nil, err
		}
		return []*Reply{r}, nil
	}
	var raws []json.RawMessage
	if err := decodeLenient(payload, &raws, ""); err != nil {
		return nil, err
	}
	switch {
	case len(raws) == 0:
		return nil, schemaErr("", ProblemBadValue, "an empty array of replies")
	case len(raws) > MaxReplyBatch:
		return nil, schemaErr("", ProblemTooMany, "more than %d replies", MaxReplyBatch)
	}
	rs := make([]*Reply, 0, len(raws))
	var errs []error
	for i, raw := range raws {
		r, err := DecodeReply(raw)
		if err != nil {
			var se *SchemaError
			if errors.As(err, &se) {
				se.Path = strictjson.JoinPath(index("", i), se.Path)
			}
			errs = append(errs, err)
			continue
		}
		rs = append(rs, r)
	}
	return rs, errors.Join(errs...)
}

// firstNonSpace returns the index of the first byte of data that is not JSON white
// space, or -1.
func firstNonSpace(data []byte) int {
	for i, c := range data {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return -1
}

// ShortDetail trims an explanation to what a reply may carry.
func ShortDetail(s string) string {
	if !utf8.ValidString(s) {
		return ""
	}
	return truncate(s, maxDetail-len("…"))
}

// Presence is the retained message on a locker's status topic: the birth
// message says online, the Last Will (sent by the broker when the connection
// dies) and a clean shutdown say offline. Boot changes on every start, so a
// receiver can tell a restart from a reconnect.
type Presence struct {
	State   PresenceState `json:"state"`
	Boot    string        `json:"boot"`
	Version string        `json:"version"`
	Time    time.Time     `json:"time,omitzero"`    // absent in the Last Will, which is written at connect time
	Reason  string        `json:"reason,omitempty"` // offline: "shutdown" or "lost"
	// Health is the birth's summary of the locker's last health figures, absent in the
	// Last Will and from firmware that predates it. It is advisory: the retained
	// presence carries no device MAC; the tagged health event's figures are the
	// authoritative ones (docs/protocol.md §6, ADR 0068).
	Health *PresenceHealth `json:"health,omitempty"`
}

// PresenceHealth is what a birth says of the locker's health: its outbox backlog and
// its open alarms, so that a fleet view needs no more than the retained presences.
type PresenceHealth struct {
	Outbox int      `json:"outbox"`           // events not yet acknowledged by the broker
	Alarms []string `json:"alarms,omitempty"` // drivers not ok, as name=state (DriverAlarms)
}

// MaxPresenceAlarms bounds the alarms a presence carries; NewPresenceHealth keeps the
// first ones in name order.
const MaxPresenceAlarms = 32

// DriverAlarms lists the drivers whose state is not ok, as name=state in name order:
// the open alarms of a health event or of a presence.
func DriverAlarms(drivers map[string]Health) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(drivers)) {
		if st := drivers[name]; st != HealthOK {
			out = append(out, name+"="+string(st))
		}
	}
	return out
}

// NewPresenceHealth summarises an outbox backlog and the drivers' states for a birth.
// Drivers whose names are not ids are left out (a health event refuses them too).
func NewPresenceHealth(outbox int, drivers map[string]Health) *PresenceHealth {
	h := &PresenceHealth{Outbox: max(outbox, 0)}
	for _, a := range DriverAlarms(drivers) {
		if len(h.Alarms) == MaxPresenceAlarms {
			break
		}
		if validAlarm(a) {
			h.Alarms = append(h.Alarms, a)
		}
	}
	return h
}

// Equal reports whether h and o say the same (both nil is equal).
func (h *PresenceHealth) Equal(o *PresenceHealth) bool {
	if h == nil || o == nil {
		return h == o
	}
	return h.Outbox == o.Outbox && slices.Equal(h.Alarms, o.Alarms)
}

// validAlarm: name=state, both ids, the state not ok. The state is not held to the
// states this version knows: a newer device may report one it does not.
func validAlarm(a string) bool {
	name, st, ok := strings.Cut(a, "=")
	return ok && ValidID(name) && ValidID(st) && st != string(HealthOK)
}

// Check validates a health summary (Presence.Check does it for a presence's).
func (h *PresenceHealth) Check() error {
	switch {
	case h.Outbox < 0:
		return schemaErr("health.outbox", ProblemBadValue, "negative count")
	case len(h.Alarms) > MaxPresenceAlarms:
		return schemaErr("health.alarms", ProblemBadValue, "more than %d", MaxPresenceAlarms)
	}
	for _, a := range h.Alarms {
		if !validAlarm(a) {
			return schemaErr("health.alarms", ProblemBadValue, "want name=state, both ids, state not ok")
		}
	}
	return nil
}

// Presence reasons.
const (
	PresenceShutdown = "shutdown"
	PresenceLost     = "lost"
)

// Check validates a presence message.
func (p *Presence) Check() error {
	switch {
	case !p.State.Valid():
		return schemaErr("state", ProblemBadValue, "want online or offline")
	case !ValidID(p.Boot):
		return schemaErr("boot", ProblemBadIdentifier, "want 1..64 of A-Z a-z 0-9 . _ : -")
	case !ValidID(p.Version):
		return schemaErr("version", ProblemBadIdentifier, "want 1..64 of A-Z a-z 0-9 . _ : -")
	case p.Reason != "" && p.Reason != PresenceShutdown && p.Reason != PresenceLost:
		return schemaErr("reason", ProblemBadValue, "want shutdown or lost")
	case p.Health != nil:
		return p.Health.Check()
	}
	return nil
}

// EncodePresence checks p and encodes it.
func EncodePresence(p *Presence) ([]byte, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	out, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("protocol: encode presence: %w", err)
	}
	return out, nil
}

// DecodePresence decodes and checks a presence message.
func DecodePresence(payload []byte) (*Presence, error) {
	var p Presence
	if err := decodeLenient(payload, &p, ""); err != nil {
		return nil, err
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return &p, nil
}
