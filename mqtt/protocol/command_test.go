package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/canary"
)

const (
	hexA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hexB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// claims wraps a body into a command payload with valid claims.
func claims(typ, body string) string {
	return `{"aud":"L1","jti":"c-1","iat":1700000000,"exp":1700000300,"typ":"` + typ + `","body":` + body + `}`
}

func parcel(fields string) string {
	return claims("announce", `{"parcels":[{"parcel":"p1","waybill":"`+hexA+`","size":"M"`+fields+`}]}`)
}

func TestDecodeCommandAccepts(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		check   func(t *testing.T, b Body)
	}{
		{name: "announce minimal", payload: parcel(""), check: func(t *testing.T, b Body) {
			p := b.(*AnnounceBody).Parcels[0]
			if p.Parcel != "p1" || p.Size != SizeM || p.Verifier != nil || p.Waybill.Hex() != hexA {
				t.Fatalf("got %+v", p)
			}
		}},
		{name: "announce full", payload: parcel(`,"verifier":"` + hexB + `","expires":"2030-01-02T03:04:05Z","hint":"…785G"`), check: func(t *testing.T, b Body) {
			p := b.(*AnnounceBody).Parcels[0]
			if p.Verifier == nil || p.Verifier.Hex() != hexB || p.Hint != "…785G" || p.Expires.Year() != 2030 {
				t.Fatalf("got %+v", p)
			}
		}},
		{name: "announce null optional", payload: parcel(`,"hint":null`)},
		{name: "set-verifier", payload: claims("set-verifier", `{"parcel":"p1","verifier":"`+hexB+`"}`)},
		{name: "set-verifier scheme 2 and QR", payload: claims("set-verifier", `{"parcel":"p1","code_verifier":"`+hexA+`","qr_verifier":"`+hexB+`"}`),
			check: func(t *testing.T, b Body) {
				if v := b.(*SetVerifierBody); v.Verifier != nil || v.CodeVerifier.Hex() != hexA || v.QRVerifier.Hex() != hexB {
					t.Fatalf("got %+v", v)
				}
			}},
		{name: "announce scheme 2 and QR", payload: parcel(`,"code_verifier":"` + hexA + `","qr_verifier":"` + hexB + `"`), check: func(t *testing.T, b Body) {
			if p := b.(*AnnounceBody).Parcels[0]; p.Verifier != nil || p.CodeVerifier.Hex() != hexA || p.QRVerifier.Hex() != hexB {
				t.Fatalf("got %+v", p)
			}
		}},
		{name: "clear-throttle", payload: claims("clear-throttle", `{"source":"code","operator":"op-3"}`)},
		{name: "erase-subject", payload: claims("erase-subject", `{"subject":"courier-9","operator":"op-3"}`)},
		{name: "policy with code entry", payload: claims("policy", validPolicy(`code_entry={"min_length":10,"delay_s":6,"alarm_failures":30}`)),
			check: func(t *testing.T, b Body) {
				if p := b.(*PolicyBody); p.CodeEntry == nil || p.CodeEntry.MinLength != 10 || p.CodeEntry.DelayS != 6 {
					t.Fatalf("got %+v", p)
				}
			}},
		{name: "cancel", payload: claims("cancel", `{"parcel":"p1"}`)},
		{name: "recall", payload: claims("recall", `{"parcel":"p1"}`)},
		{name: "courier-upsert", payload: claims("courier-upsert", `{"courier":"c7","badge":"`+hexA+`","verifier":"`+hexB+`","rights":["deposit","retrieve"]}`)},
		{name: "courier-revoke", payload: claims("courier-revoke", `{"courier":"c7"}`)},
		{name: "open-compartment", payload: claims("open-compartment", `{"compartment":12,"reason":"support","operator":"op-3"}`), check: func(t *testing.T, b Body) {
			if o := b.(*OpenCompartmentBody); o.Compartment != 12 || o.Reason != OpenSupport {
				t.Fatalf("got %+v", o)
			}
		}},
		{name: "disable-compartment", payload: claims("disable-compartment", `{"compartment":65535,"operator":"op-3"}`)},
		{name: "enable-compartment", payload: claims("enable-compartment", `{"compartment":1,"operator":"op-3"}`)},
		{name: "resolve-compartment", payload: claims("resolve-compartment", `{"compartment":4,"present":false,"operator":"op-3"}`)},
		{name: "inventory", payload: claims("inventory", `{}`)},
		{name: "status", payload: claims("status", `{}`)},
		{name: "ping", payload: claims("ping", ` { } `)},
		{name: "audit-range", payload: claims("audit-range", `{"from":10,"to":20,"limit":5}`)},
		{name: "audit-range open end", payload: claims("audit-range", `{"from":0}`)},
		{name: "policy", payload: claims("policy", validPolicy(""))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := DecodeCommand([]byte(tc.payload))
			if err != nil {
				t.Fatalf("DecodeCommand: %v", err)
			}
			if cmd.Parsed.Type() != cmd.Typ || cmd.Aud != "L1" || cmd.Jti != "c-1" {
				t.Fatalf("claims %+v, body %T", cmd.Claims, cmd.Parsed)
			}
			if !cmd.ExpiresAt().Equal(time.Unix(1700000300, 0)) || !cmd.IssuedAt().Equal(time.Unix(1700000000, 0)) {
				t.Fatal("times")
			}
			if tc.check != nil {
				tc.check(t, cmd.Parsed)
			}
		})
	}
}

func validPolicy(override string) string {
	p := map[string]any{
		"version": 3, "retention_s": 259200, "announced_keep_s": 1209600, "purge_after_s": 86400,
		"code_throttle":       map[string]any{"max_failures": 5, "base_delay_s": 30, "max_delay_s": 1800},
		"courier_throttle":    map[string]any{"max_failures": 5, "base_delay_s": 30, "max_delay_s": 1800},
		"door_open_timeout_s": 6, "left_open_after_s": 90,
	}
	if override != "" {
		k, v, _ := strings.Cut(override, "=")
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			panic(err)
		}
		p[k] = val
	}
	out, _ := json.Marshal(p)
	return string(out)
}

func TestDecodeCommandRefuses(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20)
	many := make([]string, MaxAnnounceBatch+1)
	for i := range many {
		many[i] = `{"parcel":"p` + itoa(i) + `","waybill":"` + hexA + `","size":"S"}`
	}
	tests := []struct {
		name    string
		payload string
		problem Problem
		path    string
	}{
		{name: "not json", payload: `hello`, problem: ProblemMalformed},
		{name: "empty", payload: ``, problem: ProblemMalformed},
		{name: "array", payload: `[1]`, problem: ProblemWrongType},
		{name: "trailing data", payload: claims("ping", `{}`) + `{}`, problem: ProblemMalformed},
		{name: "invalid utf8", payload: claims("ping", `{}`)[:10] + "\xff" + claims("ping", `{}`)[10:], problem: ProblemMalformed},
		{name: "too deep", payload: claims("ping", deep), problem: ProblemTooDeep},
		{name: "duplicate claim", payload: `{"aud":"L2","aud":"L1","jti":"c","iat":1,"exp":2,"typ":"ping","body":{}}`, problem: ProblemDuplicate, path: "aud"},
		{name: "unknown claim", payload: `{"aud":"L1","jti":"c","iat":1,"exp":2,"typ":"ping","body":{},"nbf":1}`, problem: ProblemUnknownField, path: "nbf"},
		{name: "missing exp", payload: `{"aud":"L1","jti":"c","iat":1,"typ":"ping","body":{}}`, problem: ProblemMissingField, path: "exp"},
		{name: "missing body", payload: `{"aud":"L1","jti":"c","iat":1,"exp":2,"typ":"ping"}`, problem: ProblemMissingField, path: "body"},
		{name: "iat as string", payload: `{"aud":"L1","jti":"c","iat":"1","exp":2,"typ":"ping","body":{}}`, problem: ProblemWrongType, path: "iat"},
		{name: "iat fractional", payload: `{"aud":"L1","jti":"c","iat":1.5,"exp":2,"typ":"ping","body":{}}`, problem: ProblemWrongType, path: "iat"},
		{name: "iat exponent", payload: `{"aud":"L1","jti":"c","iat":1e3,"exp":2000,"typ":"ping","body":{}}`, problem: ProblemWrongType, path: "iat"},
		{name: "aud null", payload: `{"aud":null,"jti":"c","iat":1,"exp":2,"typ":"ping","body":{}}`, problem: ProblemWrongType, path: "aud"},
		{name: "aud not a locker id", payload: `{"aud":"L:1","jti":"c","iat":1,"exp":2,"typ":"ping","body":{}}`, problem: ProblemBadIdentifier, path: "aud"},
		{name: "jti too long", payload: `{"aud":"L1","jti":"` + strings.Repeat("j", 65) + `","iat":1,"exp":2,"typ":"ping","body":{}}`, problem: ProblemBadIdentifier, path: "jti"},
		{name: "exp before iat", payload: `{"aud":"L1","jti":"c","iat":5,"exp":5,"typ":"ping","body":{}}`, problem: ProblemBadValue, path: "exp"},
		{name: "unknown typ", payload: claims("self-destruct", `{}`), problem: ProblemUnknownType, path: "typ"},
		{name: "body null", payload: claims("ping", `null`), problem: ProblemWrongType, path: "body"},
		{name: "body array", payload: claims("ping", `[]`), problem: ProblemWrongType, path: "body"},
		{name: "ping with member", payload: claims("ping", `{"x":1}`), problem: ProblemUnknownField, path: "body.x"},
		{name: "unknown body field", payload: parcel(`,"phone":"x"`), problem: ProblemUnknownField, path: "body.parcels[0].phone"},
		{name: "digest too short", payload: claims("set-verifier", `{"parcel":"p1","verifier":"abcd"}`), problem: ProblemBadDigest, path: "body.verifier"},
		{name: "digest upper case", payload: claims("set-verifier", `{"parcel":"p1","verifier":"`+strings.ToUpper(hexA)+`"}`), problem: ProblemBadDigest, path: "body.verifier"},
		{name: "digest as number", payload: claims("set-verifier", `{"parcel":"p1","verifier":12}`), problem: ProblemWrongType, path: "body.verifier"},
		{name: "zero digest", payload: claims("set-verifier", `{"parcel":"p1","verifier":"`+strings.Repeat("0", 64)+`"}`), problem: ProblemBadDigest, path: "body.verifier"},
		{name: "zero code verifier", payload: claims("set-verifier", `{"parcel":"p1","code_verifier":"`+strings.Repeat("0", 64)+`"}`), problem: ProblemBadDigest, path: "body.code_verifier"},
		{name: "set-verifier without a verifier", payload: claims("set-verifier", `{"parcel":"p1"}`), problem: ProblemMissingField, path: "body"},
		{name: "clear-throttle of qr", payload: claims("clear-throttle", `{"source":"qr","operator":"op-3"}`), problem: ProblemBadValue, path: "body.source"},
		{name: "clear-throttle without operator", payload: claims("clear-throttle", `{"source":"courier"}`), problem: ProblemMissingField, path: "body.operator"},
		{name: "erase-subject without subject", payload: claims("erase-subject", `{"operator":"op-3"}`), problem: ProblemMissingField, path: "body.subject"},
		{name: "erase-subject of a bad id", payload: claims("erase-subject", `{"subject":"a b","operator":"op-3"}`), problem: ProblemBadIdentifier, path: "body.subject"},
		{name: "code entry too short", payload: claims("policy", validPolicy(`code_entry={"min_length":6,"delay_s":6,"alarm_failures":30}`)), problem: ProblemBadValue, path: "body.code_entry.min_length"},
		{name: "code entry delay 0", payload: claims("policy", validPolicy(`code_entry={"min_length":8,"delay_s":0,"alarm_failures":30}`)), problem: ProblemBadValue, path: "body.code_entry.delay_s"},
		{name: "too many parcels", payload: claims("announce", `{"parcels":[`+strings.Join(many, ",")+`]}`), problem: ProblemTooMany, path: "body.parcels"},
		{name: "empty batch", payload: claims("announce", `{"parcels":[]}`), problem: ProblemBadValue, path: "body.parcels"},
		{name: "parcels not array", payload: claims("announce", `{"parcels":{}}`), problem: ProblemWrongType, path: "body.parcels"},
		{name: "bad size", payload: claims("announce", `{"parcels":[{"parcel":"p1","waybill":"`+hexA+`","size":"m"}]}`), problem: ProblemBadValue, path: "body.parcels[0].size"},
		{name: "repeated parcel", payload: claims("announce", `{"parcels":[{"parcel":"p1","waybill":"`+hexA+`","size":"S"},{"parcel":"p1","waybill":"`+hexB+`","size":"S"}]}`), problem: ProblemBadValue, path: "body.parcels[1].parcel"},
		{name: "hint too revealing", payload: parcel(`,"hint":"…85785GB"`), problem: ProblemTooLong, path: "body.parcels[0].hint"},
		{name: "hint with phone digits", payload: parcel(`,"hint":"13800"`), problem: ProblemBadValue, path: "body.parcels[0].hint"},
		{name: "hint punctuation", payload: parcel(`,"hint":"…12-4"`), problem: ProblemBadValue, path: "body.parcels[0].hint"},
		{name: "expires not a time", payload: parcel(`,"expires":"tomorrow"`), problem: ProblemBadValue, path: "body.parcels[0].expires"},
		{name: "compartment zero", payload: claims("open-compartment", `{"compartment":0,"reason":"support","operator":"o"}`), problem: ProblemBadValue, path: "body.compartment"},
		{name: "compartment overflow", payload: claims("open-compartment", `{"compartment":65536,"reason":"support","operator":"o"}`), problem: ProblemWrongType, path: "body.compartment"},
		{name: "compartment negative", payload: claims("open-compartment", `{"compartment":-1,"reason":"support","operator":"o"}`), problem: ProblemWrongType, path: "body.compartment"},
		{name: "compartment as string", payload: claims("open-compartment", `{"compartment":"12","reason":"support","operator":"o"}`), problem: ProblemWrongType, path: "body.compartment"},
		{name: "free text reason", payload: claims("open-compartment", `{"compartment":1,"reason":"Mrs Li called","operator":"o"}`), problem: ProblemBadValue, path: "body.reason"},
		{name: "missing operator", payload: claims("open-compartment", `{"compartment":1,"reason":"support"}`), problem: ProblemMissingField, path: "body.operator"},
		{name: "resolve without a finding", payload: claims("resolve-compartment", `{"compartment":4,"operator":"o"}`), problem: ProblemMissingField, path: "body.present"},
		{name: "resolve finding as text", payload: claims("resolve-compartment", `{"compartment":4,"present":"yes","operator":"o"}`), problem: ProblemWrongType, path: "body.present"},
		{name: "courier of the retired form", payload: claims("courier-upsert", `{"courier":"c","credential":"`+hexA+`","rights":["deposit"]}`), problem: ProblemBadValue, path: "body.credential"},
		{name: "courier without verifier", payload: claims("courier-upsert", `{"courier":"c","badge":"`+hexA+`","rights":["deposit"]}`), problem: ProblemMissingField, path: "body.verifier"},
		{name: "courier with a zero badge", payload: claims("courier-upsert", `{"courier":"c","badge":"`+strings.Repeat("0", 64)+`","verifier":"`+hexB+`","rights":["deposit"]}`), problem: ProblemMissingField, path: "body.badge"},
		{name: "courier badge equal to verifier", payload: claims("courier-upsert", `{"courier":"c","badge":"`+hexA+`","verifier":"`+hexA+`","rights":["deposit"]}`), problem: ProblemBadValue, path: "body.verifier"},
		{name: "no rights", payload: claims("courier-upsert", `{"courier":"c","badge":"`+hexA+`","verifier":"`+hexB+`","rights":[]}`), problem: ProblemBadValue, path: "body.rights"},
		{name: "unknown right", payload: claims("courier-upsert", `{"courier":"c","badge":"`+hexA+`","verifier":"`+hexB+`","rights":["admin"]}`), problem: ProblemBadValue, path: "body.rights[0]"},
		{name: "repeated right", payload: claims("courier-upsert", `{"courier":"c","badge":"`+hexA+`","verifier":"`+hexB+`","rights":["deposit","deposit"]}`), problem: ProblemBadValue, path: "body.rights[1]"},
		{name: "audit to before from", payload: claims("audit-range", `{"from":10,"to":5}`), problem: ProblemBadValue, path: "body.to"},
		{name: "audit limit", payload: claims("audit-range", `{"from":1,"limit":501}`), problem: ProblemBadValue, path: "body.limit"},
		{name: "policy version zero", payload: claims("policy", validPolicy("version=0")), problem: ProblemBadValue, path: "body.version"},
		{name: "policy throttle over NIST", payload: claims("policy", validPolicy(`code_throttle={"max_failures":100,"base_delay_s":1,"max_delay_s":2}`)), problem: ProblemBadValue, path: "body.code_throttle.max_failures"},
		{name: "policy missing throttle field", payload: claims("policy", validPolicy(`courier_throttle={"max_failures":5,"base_delay_s":1}`)), problem: ProblemMissingField, path: "body.courier_throttle.max_delay_s"},
		{name: "policy door timeout", payload: claims("policy", validPolicy("door_open_timeout_s=0")), problem: ProblemBadValue, path: "body.door_open_timeout_s"},
		{name: "policy purge at once", payload: claims("policy", validPolicy("purge_after_s=0")), problem: ProblemBadValue, path: "body.purge_after_s"},
		{name: "policy bool for int", payload: claims("policy", validPolicy("retention_s=true")), problem: ProblemWrongType, path: "body.retention_s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeCommand([]byte(tc.payload))
			var se *SchemaError
			if !errors.As(err, &se) || !errors.Is(err, ErrSchema) {
				t.Fatalf("got %v, want a SchemaError", err)
			}
			if se.Problem != tc.problem || (tc.path != "" && se.Path != tc.path) {
				t.Fatalf("got %s at %q (%v), want %s at %q", se.Problem, se.Path, err, tc.problem, tc.path)
			}
			if !strings.HasPrefix(err.Error(), "protocol: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestSchemaErrorsCarryNoValues makes sure a refusal never echoes a value:
// a payload full of canary strings produces errors without them, in any encoding
// internal/canary knows.
func TestSchemaErrorsCarryNoValues(t *testing.T) {
	const value = "RB123456785GB"
	payloads := []string{
		parcel(`,"hint":"` + value + `"`),
		claims("set-verifier", `{"parcel":"p1","verifier":"`+value+`"}`),
		claims("cancel", `{"parcel":"`+value+` x"}`),
		claims("open-compartment", `{"compartment":1,"reason":"`+value+`","operator":"o"}`),
		claims("ping", `{"x":"`+value+`"}`),
		`{"aud":"` + value + `/","jti":"c","iat":1,"exp":2,"typ":"ping","body":{}}`,
	}
	var errs canary.Record
	for i, p := range payloads {
		_, err := DecodeCommand([]byte(p))
		if err == nil {
			t.Fatalf("payload %d decoded", i)
		}
		errs.Add(fmt.Sprintf("error for payload %d", i), []byte(err.Error()))
	}
	h, err := canary.New(map[string]string{"tracking": value})
	if err != nil {
		t.Fatal(err)
	}
	s := errs.Surface("schema errors", canary.KindError)
	s.MinItems = len(payloads)
	if err := h.Register(s); err != nil {
		t.Fatal(err)
	}
	h.Check(t)
}

func TestEncodeCommandRoundTrip(t *testing.T) {
	iat := time.Unix(1700000000, 0)
	v := Digest{1}
	bodies := []Body{
		&AnnounceBody{Parcels: []AnnouncedParcel{{Parcel: "p1", Waybill: Digest{9}, Size: SizeXL, Verifier: &v, Hint: "…1234", Expires: iat.Add(time.Hour).UTC()}}},
		&PolicyBody{Version: 1, RetentionS: 3600, AnnouncedKeepS: 3600, PurgeAfterS: 60, DoorOpenTimeoutS: 5, LeftOpenAfterS: 60,
			CodeThrottle: Throttle{MaxFailures: 5, BaseDelayS: 1, MaxDelayS: 2}, CourierThrottle: Throttle{MaxFailures: 3, BaseDelayS: 1, MaxDelayS: 1}},
		&PingBody{},
		&CourierUpsertBody{Courier: "c1", Badge: Digest{2}, Verifier: Digest{3}, Rights: []Right{RightRetrieve}},
	}
	for _, b := range bodies {
		t.Run(string(b.Type()), func(t *testing.T) {
			payload, err := EncodeCommand("L1", "id-1", b, iat, iat.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			cmd, err := DecodeCommand(payload)
			if err != nil {
				t.Fatalf("decode what was encoded: %v", err)
			}
			again, _ := json.Marshal(cmd.Parsed)
			first, _ := json.Marshal(b)
			if string(again) != string(first) {
				t.Fatalf("round trip:\n%s\n%s", first, again)
			}
		})
	}
	refusals := []struct {
		name string
		body Body
		aud  string
		exp  time.Time
	}{
		{name: "invalid body", body: &CancelBody{}, aud: "L1", exp: iat.Add(time.Minute)},
		{name: "bad audience", body: &PingBody{}, aud: "L/1", exp: iat.Add(time.Minute)},
		{name: "lifetime", body: &PingBody{}, aud: "L1", exp: iat.Add(MaxLifetime + time.Second)},
		{name: "expired before issued", body: &PingBody{}, aud: "L1", exp: iat},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := EncodeCommand(tc.aud, "id", tc.body, iat, tc.exp); !errors.Is(err, ErrSchema) {
				t.Fatalf("got %v, want ErrSchema", err)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
