package link

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/lockerd/lockerd/mqtt/jws"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// verifier holds the checks a command passes before anything durable
// happens. It is pure (no I/O, time passed in) so that every refusal is
// covered by a table test.
type verifier struct {
	lockerID    string
	keys        *jws.Keys
	maxSize     int
	maxSkew     time.Duration
	maxLifetime time.Duration
}

// check returns the verified command, or a refusal reply saying why not.
// The order matters: size before parsing, signature before trusting any
// claim, audience and time before the body, so that an unauthenticated
// sender learns nothing but "bad signature" and spends no decoding effort.
func (v *verifier) check(payload []byte, now time.Time) (*protocol.Command, *protocol.Reply) {
	refuse := func(id string, typ protocol.CommandType, reason protocol.Reason, detail string) *protocol.Reply {
		return &protocol.Reply{
			ID: id, Ref: protocol.CommandRef(payload), Typ: typ, Status: protocol.StatusRefused,
			Reason: reason, Detail: protocol.ShortDetail(detail), Time: now.UTC(),
		}
	}
	if len(payload) > v.maxSize {
		return nil, refuse("", "", protocol.ReasonTooLarge, "command over the size limit")
	}
	tok, err := jws.Parse(payload, v.maxSize)
	switch {
	case errors.Is(err, jws.ErrTooLarge):
		return nil, refuse("", "", protocol.ReasonTooLarge, "command over the size limit")
	case errors.Is(err, jws.ErrUnsupported):
		return nil, refuse("", "", protocol.ReasonBadHeader, stripPrefix(err))
	case err != nil:
		return nil, refuse("", "", protocol.ReasonMalformed, stripPrefix(err))
	}
	if err := tok.VerifyKeys(v.keys); err != nil {
		// The id is unauthenticated; it is echoed only to help the sender
		// match the refusal, and Ref pins it to these exact bytes.
		return nil, refuse(peekID(tok.Payload), "", protocol.ReasonBadSignature, "no pinned fleet key verifies the signature")
	}
	claims, err := protocol.DecodeClaims(tok.Payload)
	if err != nil {
		return nil, refuse(peekID(tok.Payload), "", schemaReason(err), stripPrefix(err))
	}
	id, typ := claims.Jti, claims.Typ
	switch {
	case claims.Aud != v.lockerID:
		return nil, refuse(id, typ, protocol.ReasonBadAudience, "addressed to another locker")
	case protocol.ClockExempt(typ) && claims.ExpiresAt().Sub(claims.IssuedAt()) > v.maxLifetime:
		return nil, refuse(id, typ, protocol.ReasonLifetime, "exp - iat exceeds the allowed lifetime")
	case protocol.ClockExempt(typ):
		// The time command reaches a device whose clock may be years off: the
		// handler accepts it only when its iat is newer than the device's last
		// trusted time, and the command log still refuses its jti twice.
	case now.Unix() >= claims.Exp:
		return nil, refuse(id, typ, protocol.ReasonExpired, "exp has passed")
	case claims.IssuedAt().After(now.Add(v.maxSkew)):
		return nil, refuse(id, typ, protocol.ReasonNotYetValid, "iat is in the future beyond the allowed clock skew")
	case claims.ExpiresAt().Sub(claims.IssuedAt()) > v.maxLifetime:
		return nil, refuse(id, typ, protocol.ReasonLifetime, "exp - iat exceeds the allowed lifetime")
	}
	body, err := claims.DecodeBody()
	if err != nil {
		return nil, refuse(id, typ, schemaReason(err), stripPrefix(err))
	}
	return &protocol.Command{Claims: *claims, Parsed: body}, nil
}

// peekJWSID extracts the jti of an unverified compact JWS, or "".
func peekJWSID(token []byte) string {
	tok, err := jws.Parse(token, len(token))
	if err != nil {
		return ""
	}
	return peekID(tok.Payload)
}

// peekID extracts the jti of an unverified payload if it is a valid id.
func peekID(payload []byte) string {
	var c struct {
		Jti string `json:"jti"`
	}
	if json.Unmarshal(payload, &c) != nil || !protocol.ValidID(c.Jti) {
		return ""
	}
	return c.Jti
}

func schemaReason(err error) protocol.Reason {
	var se *protocol.SchemaError
	if errors.As(err, &se) && se.Problem == protocol.ProblemUnknownType {
		return protocol.ReasonUnknownType
	}
	return protocol.ReasonSchema
}

// stripPrefix drops the package prefix: the detail goes to the cloud, which
// does not care which Go package found the problem.
func stripPrefix(err error) string {
	s := err.Error()
	for _, p := range []string{"protocol: ", "jws: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}
