package protocol

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/mqtt/internal/strictjson"
)

// Limits of a command's claims.
const (
	// MaxLifetime is the longest exp - iat a command may claim. It bounds how
	// long a device must remember command ids to refuse replays.
	MaxLifetime = 7 * 24 * time.Hour
)

// Claims is the JSON payload of a signed command (the JWS payload). aud,
// jti, iat and exp follow JWT (RFC 7519) usage; iat and exp are NumericDate
// (seconds since the Unix epoch).
type Claims struct {
	Aud  string          `json:"aud"`  // the locker id this command is for
	Jti  string          `json:"jti"`  // unique command id; replies carry it
	Iat  int64           `json:"iat"`  // issued at
	Exp  int64           `json:"exp"`  // expires at; the device refuses it after
	Typ  CommandType     `json:"typ"`  // which command; selects the body schema
	Body json.RawMessage `json:"body"` // the command's body, an object

	// Body as already parsed by DecodeClaims, so DecodeBody need not parse
	// it again; cleared once used.
	bodyTree *strictjson.Value
}

// IssuedAt returns iat as a time.
func (c *Claims) IssuedAt() time.Time { return time.Unix(c.Iat, 0) }

// ExpiresAt returns exp as a time.
func (c *Claims) ExpiresAt() time.Time { return time.Unix(c.Exp, 0) }

func (c *Claims) check() error {
	switch {
	case !ValidID(c.Aud):
		return schemaErr("aud", ProblemBadIdentifier, "want 1..64 of A-Z a-z 0-9 . _ : -")
	case ValidLockerID(c.Aud) != nil:
		return schemaErr("aud", ProblemBadIdentifier, "not a locker id")
	case !ValidID(c.Jti):
		return schemaErr("jti", ProblemBadIdentifier, "want 1..64 of A-Z a-z 0-9 . _ : -")
	case c.Iat <= 0:
		return schemaErr("iat", ProblemBadValue, "must be positive seconds since the epoch")
	case c.Exp <= c.Iat:
		return schemaErr("exp", ProblemBadValue, "must be after iat")
	case !c.Typ.Valid():
		return schemaErr("typ", ProblemUnknownType, "not a known command type")
	}
	return nil
}

// Command is a decoded, schema-checked command. Whether it is authentic,
// addressed to this device and still valid in time is for the caller to
// check (mqtt/link does).
type Command struct {
	Claims
	// Parsed is the typed body: *AnnounceBody for CmdAnnounce, and so on
	// (see NewBody).
	Parsed Body
}

// Body is implemented by every command body type.
type Body interface {
	// Type returns the command type the body belongs to.
	Type() CommandType
	// Validate checks the body's values (enums, ranges, ids, batch sizes).
	Validate() error
}

// NewBody returns a new zero body of the given command type.
func NewBody(t CommandType) (Body, error) {
	switch t {
	case CmdAnnounce:
		return &AnnounceBody{}, nil
	case CmdSetVerifier:
		return &SetVerifierBody{}, nil
	case CmdCancel:
		return &CancelBody{}, nil
	case CmdRecall:
		return &RecallBody{}, nil
	case CmdCourierUpsert:
		return &CourierUpsertBody{}, nil
	case CmdCourierRevoke:
		return &CourierRevokeBody{}, nil
	case CmdEraseSubject:
		return &EraseSubjectBody{}, nil
	case CmdOpenCompartment:
		return &OpenCompartmentBody{}, nil
	case CmdDisableCompartment:
		return &DisableCompartmentBody{}, nil
	case CmdEnableCompartment:
		return &EnableCompartmentBody{}, nil
	case CmdResolveCompartment:
		return &ResolveCompartmentBody{}, nil
	case CmdInventory:
		return &InventoryBody{}, nil
	case CmdStatus:
		return &StatusBody{}, nil
	case CmdAuditRange:
		return &AuditRangeBody{}, nil
	case CmdPolicy:
		return &PolicyBody{}, nil
	case CmdPing:
		return &PingBody{}, nil
	case CmdClearThrottle:
		return &ClearThrottleBody{}, nil
	case CmdTime:
		return &TimeBody{}, nil
	case CmdUpdate:
		return &UpdateBody{}, nil
	}
	return nil, schemaErr("typ", ProblemUnknownType, "not a known command type")
}

// DecodeClaims decodes and schema-checks the claims of a command without
// decoding its body. The link uses it to learn the id and audience before
// spending effort on the body.
func DecodeClaims(payload []byte) (*Claims, error) {
	tree, err := strictjson.Parse(payload)
	if err != nil {
		return nil, fromStrict(err, "")
	}
	var c Claims
	if err := tree.Decode(&c, false); err != nil {
		return nil, fromStrict(err, "")
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	c.bodyTree = tree.Member("body")
	return &c, nil
}

// DecodeBody decodes and validates the claims' body for their type, reusing
// the parse DecodeClaims made.
func (c *Claims) DecodeBody() (Body, error) {
	if c.bodyTree == nil {
		return DecodeBody(c.Typ, c.Body)
	}
	b, err := NewBody(c.Typ)
	if err != nil {
		return nil, err
	}
	tree := c.bodyTree
	c.bodyTree = nil
	if err := tree.Decode(b, false); err != nil {
		return nil, fromStrict(err, "body")
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// DecodeBody decodes and validates the body of a command of type t.
func DecodeBody(t CommandType, raw json.RawMessage) (Body, error) {
	b, err := NewBody(t)
	if err != nil {
		return nil, err
	}
	if err := decodeStrict(raw, b, "body"); err != nil {
		return nil, err
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// DecodeCommand decodes claims and body of a command payload (the JWS
// payload, already verified or not).
func DecodeCommand(payload []byte) (*Command, error) {
	c, err := DecodeClaims(payload)
	if err != nil {
		return nil, err
	}
	b, err := c.DecodeBody()
	if err != nil {
		return nil, err
	}
	return &Command{Claims: *c, Parsed: b}, nil
}

// EncodeCommand validates body and returns the claims JSON of a command
// ready to be signed. iat and exp are truncated to whole seconds.
func EncodeCommand(lockerID, id string, body Body, iat, exp time.Time) ([]byte, error) {
	if err := body.Validate(); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("protocol: encode %s body: %w", body.Type(), err)
	}
	c := Claims{Aud: lockerID, Jti: id, Iat: iat.Unix(), Exp: exp.Unix(), Typ: body.Type(), Body: raw}
	if err := c.check(); err != nil {
		return nil, err
	}
	if exp.Sub(iat) > MaxLifetime {
		return nil, schemaErr("exp", ProblemBadValue, "lifetime over %v", MaxLifetime)
	}
	out, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("protocol: encode claims: %w", err)
	}
	return out, nil
}

// BodyDigest is the digest the device keeps beside a command's id to tell a re-send of
// the same command (answered with the stored reply) from an id reused for another
// command (refused ReasonConflict): SHA-256 over typ, a zero byte and the parsed body
// encoded again, so that a re-signed copy (another key, other whitespace or member
// order) of the same body is the same command. iat, exp and aud are not part of it:
// docs/adr/0055-command-ordering-and-jti-reuse.md.
func (c *Command) BodyDigest() []byte {
	h := sha256.New()
	h.Write([]byte(c.Typ))
	h.Write([]byte{0})
	body := []byte(c.Body)
	if c.Parsed != nil {
		if b, err := json.Marshal(c.Parsed); err == nil {
			body = b
		}
	}
	h.Write(body)
	return h.Sum(nil)
}
