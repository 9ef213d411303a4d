package link

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/jws"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

var (
	testNow   = time.Unix(1700000000, 0)
	fleetKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	otherKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	fleetPubs = []ed25519.PublicKey{fleetKey.Public().(ed25519.PublicKey)}
	// testEventKey is the event key the links of these tests tag with.
	testEventKey = bytes.Repeat([]byte{7}, 32)
)

func testVerifier() *verifier {
	keys, err := jws.NewKeys(fleetPubs...)
	if err != nil {
		panic(err)
	}
	return &verifier{lockerID: "L1", keys: keys, maxSize: 4096, maxSkew: time.Minute, maxLifetime: time.Hour}
}

// claimsJSON builds claims around body with times relative to testNow.
func claimsJSON(aud, typ, body string, iat, exp time.Duration) string {
	return `{"aud":"` + aud + `","jti":"cmd-1","iat":` + itoa(testNow.Add(iat).Unix()) +
		`,"exp":` + itoa(testNow.Add(exp).Unix()) + `,"typ":"` + typ + `","body":` + body + `}`
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func sign(t *testing.T, key ed25519.PrivateKey, claims string) []byte {
	t.Helper()
	tok, err := jws.Sign(key, "", []byte(claims))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func rawToken(header, claims string, sig []byte) []byte {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	return []byte(in + "." + enc.EncodeToString(sig))
}

func TestVerifierAccepts(t *testing.T) {
	tests := []struct {
		name   string
		claims string
	}{
		{name: "ping", claims: claimsJSON("L1", "ping", `{}`, 0, time.Minute)},
		{name: "issued slightly in the future", claims: claimsJSON("L1", "ping", `{}`, 30*time.Second, time.Minute)},
		{name: "issued long ago, not expired", claims: claimsJSON("L1", "cancel", `{"parcel":"p1"}`, -50*time.Minute, time.Second)},
		{name: "exactly the maximum lifetime", claims: claimsJSON("L1", "ping", `{}`, -time.Minute, 59*time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, refusal := testVerifier().check(sign(t, fleetKey, tc.claims), testNow)
			if refusal != nil {
				t.Fatalf("refused: %s %s", refusal.Reason, refusal.Detail)
			}
			if cmd.Jti != "cmd-1" || cmd.Parsed == nil {
				t.Fatalf("got %+v", cmd)
			}
		})
	}
}

func TestVerifierRefuses(t *testing.T) {
	ping := claimsJSON("L1", "ping", `{}`, 0, time.Minute)
	signed := sign(t, fleetKey, ping)
	tampered := bytes.Replace(signed, []byte("."), []byte(".e"), 1)
	tests := []struct {
		name    string
		payload []byte
		reason  protocol.Reason
		id      string
	}{
		{name: "empty", payload: nil, reason: protocol.ReasonMalformed},
		{name: "plain JSON", payload: []byte(ping), reason: protocol.ReasonMalformed},
		{name: "garbage", payload: []byte("\x00\x01\x02.."), reason: protocol.ReasonMalformed},
		{name: "unsigned alg none", payload: []byte(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(ping)) + "."), reason: protocol.ReasonBadHeader},
		{name: "HMAC algorithm", payload: rawToken(`{"alg":"HS256"}`, ping, make([]byte, 32)), reason: protocol.ReasonBadHeader},
		{name: "crit header", payload: rawToken(`{"alg":"EdDSA","crit":["x"],"x":1}`, ping, make([]byte, 64)), reason: protocol.ReasonBadHeader},
		{name: "zero signature", payload: rawToken(`{"alg":"EdDSA"}`, ping, make([]byte, 64)), reason: protocol.ReasonBadSignature, id: "cmd-1"},
		{name: "wrong key", payload: sign(t, otherKey, ping), reason: protocol.ReasonBadSignature, id: "cmd-1"},
		{name: "tampered", payload: tampered, reason: protocol.ReasonBadSignature},
		{name: "oversized", payload: sign(t, fleetKey, claimsJSON("L1", "cancel", `{"parcel":"`+strings.Repeat("p", 4000)+`"}`, 0, time.Minute)), reason: protocol.ReasonTooLarge},
		{name: "wrong audience", payload: sign(t, fleetKey, claimsJSON("L2", "ping", `{}`, 0, time.Minute)), reason: protocol.ReasonBadAudience, id: "cmd-1"},
		{name: "expired", payload: sign(t, fleetKey, claimsJSON("L1", "ping", `{}`, -time.Hour, 0)), reason: protocol.ReasonExpired, id: "cmd-1"},
		{name: "from the future", payload: sign(t, fleetKey, claimsJSON("L1", "ping", `{}`, 2*time.Minute, 3*time.Minute)), reason: protocol.ReasonNotYetValid, id: "cmd-1"},
		{name: "lifetime too long", payload: sign(t, fleetKey, claimsJSON("L1", "ping", `{}`, 0, 2*time.Hour)), reason: protocol.ReasonLifetime, id: "cmd-1"},
		{name: "claims not JSON", payload: sign(t, fleetKey, `{"aud":`), reason: protocol.ReasonSchema},
		{name: "iat as string", payload: sign(t, fleetKey, strings.Replace(ping, `"iat":`, `"iat":"`, 1)), reason: protocol.ReasonSchema},
		{name: "unknown command", payload: sign(t, fleetKey, claimsJSON("L1", "reboot", `{}`, 0, time.Minute)), reason: protocol.ReasonUnknownType, id: "cmd-1"},
		{name: "body wrong type", payload: sign(t, fleetKey, claimsJSON("L1", "cancel", `{"parcel":7}`, 0, time.Minute)), reason: protocol.ReasonSchema, id: "cmd-1"},
		{name: "body unknown field", payload: sign(t, fleetKey, claimsJSON("L1", "cancel", `{"parcel":"p","phone":"x"}`, 0, time.Minute)), reason: protocol.ReasonSchema, id: "cmd-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, r := testVerifier().check(tc.payload, testNow)
			if cmd != nil || r == nil {
				t.Fatalf("accepted: %+v", cmd)
			}
			if r.Status != protocol.StatusRefused || r.Reason != tc.reason {
				t.Fatalf("got %s/%s (%s), want refused/%s", r.Status, r.Reason, r.Detail, tc.reason)
			}
			if r.ID != tc.id || r.Ref != protocol.CommandRef(tc.payload) {
				t.Fatalf("id %q ref %q", r.ID, r.Ref)
			}
			if err := r.Check(); err != nil {
				t.Fatalf("refusal breaks the reply rules: %v", err)
			}
		})
	}
}
