package link_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/jws"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

var attackerKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{66}, 32))

func claims(aud, typ, body string, iat, exp time.Time) string {
	return `{"aud":"` + aud + `","jti":"atk-1","iat":` + strconv.FormatInt(iat.Unix(), 10) +
		`,"exp":` + strconv.FormatInt(exp.Unix(), 10) + `,"typ":"` + typ + `","body":` + body + `}`
}

func signed(t *testing.T, key ed25519.PrivateKey, c string) []byte {
	t.Helper()
	tok, err := jws.Sign(key, "", []byte(c))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAttacksAreRefused sends, from a client with write access to the
// command topic (a compromised cloud account or broker), every kind of bad
// command. Each must be answered "refused" with its reason and the ref of
// the exact bytes, and none may reach the Handler.
func TestAttacksAreRefused(t *testing.T) {
	f := fixture.New(t, fixture.Options{})
	replies := f.Replies(t)
	attacker := f.Raw(t, "cloud", nil)
	now := time.Now()
	ping := claims(fixture.Locker, "ping", `{}`, now, now.Add(time.Minute))
	enc := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name    string
		payload []byte
		reason  protocol.Reason
	}{
		{name: "unsigned (alg none)", payload: []byte(enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(ping)) + "."), reason: protocol.ReasonBadHeader},
		{name: "plain JSON, no JWS", payload: []byte(ping), reason: protocol.ReasonMalformed},
		{name: "signed by another key", payload: signed(t, attackerKey, ping), reason: protocol.ReasonBadSignature},
		{name: "wrong audience", payload: signed(t, fixture.FleetKey, claims(fixture.OtherLocker, "ping", `{}`, now, now.Add(time.Minute))), reason: protocol.ReasonBadAudience},
		{name: "expired", payload: signed(t, fixture.FleetKey, claims(fixture.Locker, "ping", `{}`, now.Add(-time.Hour), now.Add(-time.Minute))), reason: protocol.ReasonExpired},
		{name: "issued in the future", payload: signed(t, fixture.FleetKey, claims(fixture.Locker, "ping", `{}`, now.Add(time.Hour), now.Add(2*time.Hour))), reason: protocol.ReasonNotYetValid},
		{name: "oversized", payload: bytes.Repeat([]byte("A"), jws.DefaultMaxSize+1), reason: protocol.ReasonTooLarge},
		{name: "malformed JSON claims", payload: signed(t, fixture.FleetKey, `{"aud":"L1",`), reason: protocol.ReasonSchema},
		{name: "wrong type in claims", payload: signed(t, fixture.FleetKey, strings.Replace(ping, `"exp":`, `"exp":true,"x":`, 1)), reason: protocol.ReasonSchema},
		{name: "wrong type in body", payload: signed(t, fixture.FleetKey, claims(fixture.Locker, "open-compartment", `{"compartment":"3","reason":"support","operator":"op"}`, now, now.Add(time.Minute))), reason: protocol.ReasonSchema},
		{name: "unknown field in body", payload: signed(t, fixture.FleetKey, claims(fixture.Locker, "cancel", `{"parcel":"p","phone":"1"}`, now, now.Add(time.Minute))), reason: protocol.ReasonSchema},
		{name: "unknown command", payload: signed(t, fixture.FleetKey, claims(fixture.Locker, "format-disk", `{}`, now, now.Add(time.Minute))), reason: protocol.ReasonUnknownType},
		{name: "empty payload", payload: []byte{}, reason: protocol.ReasonMalformed},
		{name: "binary garbage", payload: []byte{0xff, 0x00, '.', 0xfe, '.', 0x01}, reason: protocol.ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fixture.Publish(t, attacker, f.Topics.Command(fixture.Locker), tc.payload)
			r := fixture.NextReply(t, replies)
			if r.Status != protocol.StatusRefused || r.Reason != tc.reason {
				t.Fatalf("got %s/%s (%s), want refused/%s", r.Status, r.Reason, r.Detail, tc.reason)
			}
			if r.Ref != protocol.CommandRef(tc.payload) {
				t.Fatal("the refusal does not name the bytes it refuses")
			}
		})
	}
	if n := f.Handler.Count(); n != 0 {
		t.Fatalf("the handler ran %d times", n)
	}
	if known, _, _ := f.Log.Lookup("atk-1"); known {
		t.Fatal("a refused command was recorded in the command log")
	}
}

// TestReplayAndDuplicates: a command runs once however often it arrives;
// every copy gets the stored outcome; an expired replay is refused.
func TestReplayAndDuplicates(t *testing.T) {
	now := time.Now()
	clock := fixture.NewClock(now)
	f := fixture.New(t, fixture.Options{Link: func(c *link.Config) { c.Now = clock.Now }})
	replies := f.Replies(t)
	raw := f.Raw(t, "cloud", nil)
	cmd, err := fleet.Sign(fixture.FleetKey, "", fixture.Locker, "dup-1", &protocol.RecallBody{Parcel: "p-1"}, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resigned, err := fleet.Sign(fixture.FleetKey, "rotated", fixture.Locker, "dup-1", &protocol.RecallBody{Parcel: "p-1"}, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	topic := f.Topics.Command(fixture.Locker)

	fixture.Publish(t, raw, topic, cmd.Token)
	if r := fixture.NextReply(t, replies); r.Status != protocol.StatusAccepted || r.ID != "dup-1" {
		t.Fatalf("first: %+v", r)
	}
	if r := fixture.NextReply(t, replies); r.Status != protocol.StatusDone {
		t.Fatalf("first: %+v", r)
	}
	steps := []struct {
		name    string
		payload []byte
		status  protocol.Status
		reason  protocol.Reason
	}{
		{name: "identical replay", payload: cmd.Token, status: protocol.StatusDone},
		{name: "same id, signed again", payload: resigned.Token, status: protocol.StatusDone},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			fixture.Publish(t, raw, topic, s.payload)
			r := fixture.NextReply(t, replies)
			if r.Status != s.status || r.ID != "dup-1" || r.Ref != protocol.CommandRef(s.payload) {
				t.Fatalf("got %+v", r)
			}
		})
	}
	t.Run("replay after expiry", func(t *testing.T) {
		clock.Advance(time.Minute)
		fixture.Publish(t, raw, topic, cmd.Token)
		if r := fixture.NextReply(t, replies); r.Status != protocol.StatusRefused || r.Reason != protocol.ReasonExpired {
			t.Fatalf("got %+v", r)
		}
	})
	if n := f.Handler.Count(); n != 1 {
		t.Fatalf("the handler ran %d times", n)
	}
}
