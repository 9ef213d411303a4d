package link

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/jws"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Fuzz targets for what the link reads before it trusts anything: the verifier's
// check of a command as it comes off the broker, and the id peeks that echo an
// unauthenticated jti in a refusal.

// FuzzVerifierCheck runs the verifier on arbitrary payloads. With signed false the
// input is the payload as it comes off the broker (the fuzzer cannot forge a
// signature, so it explores the size, JWS and signature stages); with signed true the
// input is the claims, signed with the pinned fleet key, so that the claims and body
// stages are explored too. Either way: exactly one of command and refusal, a refusal
// that obeys the reply rules and pins the payload's exact bytes, and an accepted
// command that meets every rule the verifier promises (size, audience, time window).
func FuzzVerifierCheck(f *testing.F) {
	ping := claimsJSON("L1", "ping", `{}`, 0, time.Minute)
	signedPing := sign(&testing.T{}, fleetKey, ping)
	announce := claimsJSON("L1", "announce", `{"parcels":[{"parcel":"p-1","waybill":"`+hex64('a')+
		`","size":"M","verifier":"`+hex64('b')+`","expires":"2023-11-20T00:00:00Z","hint":"…1234"}]}`, 0, time.Hour)
	for _, claims := range []string{
		ping, announce,
		claimsJSON("L1", "cancel", `{"parcel":"p1"}`, -50*time.Minute, time.Second),
		claimsJSON("L2", "ping", `{}`, 0, time.Minute),
		claimsJSON("L1", "ping", `{}`, -time.Hour, 0),
		claimsJSON("L1", "ping", `{}`, 2*time.Minute, 3*time.Minute),
		claimsJSON("L1", "ping", `{}`, 0, 2*time.Hour),
		claimsJSON("L1", "reboot", `{}`, 0, time.Minute),
		claimsJSON("L1", "cancel", `{"parcel":7}`, 0, time.Minute),
		claimsJSON("L1", "cancel", `{"parcel":"p","phone":"x"}`, 0, time.Minute),
		strings.Replace(ping, `"iat":`, `"iat":"`, 1),
		`{"aud":`,
		`{"aud":"L1","jti":"cmd-1","iat":-9223372036854775808,"exp":9223372036854775807,"typ":"ping","body":{}}`,
	} {
		f.Add(true, []byte(claims))
		f.Add(false, sign(&testing.T{}, fleetKey, claims))
	}
	f.Add(false, []byte(nil))
	f.Add(false, []byte(ping))
	f.Add(false, []byte("\x00\x01\x02.."))
	f.Add(false, []byte(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`))+"."+base64.RawURLEncoding.EncodeToString([]byte(ping))+"."))
	f.Add(false, rawToken(`{"alg":"HS256"}`, ping, make([]byte, 32)))
	f.Add(false, rawToken(`{"alg":"EdDSA","crit":["x"],"x":1}`, ping, make([]byte, 64)))
	f.Add(false, rawToken(`{"alg":"EdDSA"}`, ping, make([]byte, 64)))
	f.Add(false, sign(&testing.T{}, otherKey, ping))
	f.Add(false, bytes.Replace(signedPing, []byte("."), []byte(".e"), 1))
	v := testVerifier()
	f.Fuzz(func(t *testing.T, signed bool, data []byte) {
		payload := data
		if signed {
			tok, err := jws.Sign(fleetKey, "", data)
			if err != nil {
				return // claims too large to sign: nothing reaches the verifier
			}
			payload = tok
		}
		cmd, r := v.check(payload, testNow)
		if (cmd == nil) == (r == nil) {
			t.Fatalf("check returned command %+v and refusal %+v", cmd, r)
		}
		if r != nil {
			if r.Status != protocol.StatusRefused || r.Ref != protocol.CommandRef(payload) {
				t.Fatalf("refusal %s ref %q for a payload whose ref is %q", r.Status, r.Ref, protocol.CommandRef(payload))
			}
			if err := r.Check(); err != nil {
				t.Fatalf("refusal breaks the reply rules: %v (%+v)", err, r)
			}
			if strings.HasPrefix(r.Detail, "protocol: ") || strings.HasPrefix(r.Detail, "jws: ") {
				t.Fatalf("refusal detail keeps a Go package prefix: %q", r.Detail)
			}
			if r.Reason == protocol.ReasonBadSignature && signed {
				t.Fatalf("a payload signed with the pinned key was refused as %s", r.Reason)
			}
			return
		}
		switch {
		case len(payload) > v.maxSize:
			t.Fatalf("accepted a %d-byte command over the %d-byte limit", len(payload), v.maxSize)
		case !signed:
			// Only the seeds' own signed tokens, or an equivalent encoding of them,
			// can verify: anything accepted must still be signed by the fleet key.
			tok, err := jws.Parse(payload, v.maxSize)
			if err != nil || tok.VerifyKeys(v.keys) != nil {
				t.Fatalf("accepted a payload that does not verify: %v", err)
			}
		}
		if cmd.Aud != v.lockerID || !protocol.ValidID(cmd.Jti) || cmd.Parsed == nil {
			t.Fatalf("accepted aud %q jti %q body %v", cmd.Aud, cmd.Jti, cmd.Parsed)
		}
		iat, exp := cmd.IssuedAt(), cmd.ExpiresAt()
		if !testNow.Before(exp) || iat.After(testNow.Add(v.maxSkew)) || exp.Sub(iat) > v.maxLifetime {
			t.Fatalf("accepted a command valid from %v to %v at %v", iat, exp, testNow)
		}
	})
}

// FuzzPeekID feeds arbitrary bytes to the id peeks, which read a jti from JSON that
// nobody has authenticated yet: the result is "" or a valid id, it is the payload's
// own jti, and wrapping the payload in a compact JWS does not change it.
func FuzzPeekID(f *testing.F) {
	f.Add([]byte(claimsJSON("L1", "ping", `{}`, 0, time.Minute)))
	f.Add([]byte(`{"jti":"cmd-1"}`))
	f.Add([]byte(`{"jti":"cmd 1"}`))
	f.Add([]byte(`{"jti":"` + strings.Repeat("x", 65) + `"}`))
	f.Add([]byte(`{"jti":7}`))
	f.Add([]byte(`{"jti":"a","jti":"b"}`))
	f.Add([]byte(`{"JTI":"upper"}`))
	f.Add([]byte(`["jti"]`))
	f.Add([]byte(`{"jti":"\u0063md"}`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		id := peekID(payload)
		if id != "" && !protocol.ValidID(id) {
			t.Fatalf("peekID(%q) = %q, not a valid id", payload, id)
		}
		if id != "" {
			// encoding/json matches member names without regard to case, so the
			// jti may be spelt JTI: the peek only echoes it, never trusts it.
			var c map[string]any
			if json.Unmarshal(payload, &c) != nil {
				t.Fatalf("peekID(%q) = %q from a payload that is not a JSON object", payload, id)
			}
			found := false
			for k, v := range c {
				found = found || strings.EqualFold(k, "jti") && v == id
			}
			if !found {
				t.Fatalf("peekID(%q) = %q, which is no jti of the payload", payload, id)
			}
		}
		token := rawToken(`{"alg":"EdDSA"}`, string(payload), make([]byte, 64))
		if got := peekJWSID(token); got != id {
			t.Fatalf("peekJWSID of the wrapped payload = %q, peekID = %q", got, id)
		}
		if got := peekJWSID(payload); got != "" && !protocol.ValidID(got) {
			t.Fatalf("peekJWSID(%q) = %q, not a valid id", payload, got)
		}
	})
}
