package protocol

import (
	"encoding/json"
	"errors"
	"testing"
)

// The decoders take bytes from the network. Each fuzz target checks that
// they never panic, that every error is a schema error, and that whatever is
// accepted survives an encode/decode round trip unchanged.

func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte(parcel(`,"verifier":"` + hexB + `","hint":"…12"`)))
	f.Add([]byte(claims("policy", validPolicy(""))))
	f.Add([]byte(claims("policy", validPolicy(`code_entry={"min_length":8,"delay_s":6,"alarm_failures":30}`))))
	f.Add([]byte(claims("set-verifier", `{"parcel":"p1","code_verifier":"`+hexA+`","qr_verifier":"`+hexB+`"}`)))
	f.Add([]byte(claims("clear-throttle", `{"source":"code","operator":"op-3"}`)))
	f.Add([]byte(claims("erase-subject", `{"subject":"courier-9","operator":"op-3"}`)))
	f.Add([]byte(claims("open-compartment", `{"compartment":12,"reason":"support","operator":"op-3"}`)))
	f.Add([]byte(claims("courier-upsert", `{"courier":"c7","badge":"`+hexA+`","verifier":"`+hexA+`","rights":["deposit"]}`)))
	f.Add([]byte(claims("courier-upsert", `{"courier":"c7","credential":"`+hexA+`","rights":["deposit"]}`)))
	f.Add([]byte(`{"aud":"L1","aud":"L2"}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		cmd, err := DecodeCommand(payload)
		if err != nil {
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("error %v is not a schema error", err)
			}
			return
		}
		again, err := EncodeCommand(cmd.Aud, cmd.Jti, cmd.Parsed, cmd.IssuedAt(), cmd.ExpiresAt())
		if err != nil && !errors.Is(err, ErrSchema) {
			t.Fatalf("re-encode: %v", err)
		}
		if err != nil {
			return // e.g. a lifetime over MaxLifetime: decoding leaves that to the link
		}
		cmd2, err := DecodeCommand(again)
		if err != nil {
			t.Fatalf("decode of re-encoded command: %v\n%s", err, again)
		}
		a, _ := json.Marshal(cmd.Parsed)
		b, _ := json.Marshal(cmd2.Parsed)
		if string(a) != string(b) {
			t.Fatalf("round trip changed the body:\n%s\n%s", a, b)
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"id":"e","seq":1,"type":"deposited","time":"2025-01-01T00:00:00Z","body":{"parcel":"p","compartment":2}}`))
	f.Add([]byte(`{"id":"e","seq":2,"type":"health","time":"2025-01-01T00:00:00Z","body":{"uptime_s":1,"storage_free_bytes":2,"outbox":0,"parcels":0,"drivers":{"a":"ok"}}}`))
	f.Add([]byte(`{"id":"e","seq":3,"type":"throttled","time":"2025-01-01T00:00:00Z","body":{"source":"code","failures":6,"delay_s":60}}`))
	f.Add([]byte(`{"id":"e","seq":4,"type":"guessing","time":"2025-01-01T00:00:00Z","body":{"source":"qr","failures":31,"window_s":3600}}`))
	f.Add([]byte(`{"id":"e","seq":5,"type":"throttle_cleared","time":"2025-01-01T00:00:00Z","body":{"source":"code","actor":"op-1","command":"c-1"}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, body, err := DecodeEvent(payload)
		if err != nil {
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("error %v is not a schema error", err)
			}
			return
		}
		rebuilt, err := NewEvent(ev.ID, ev.Seq, ev.Type, ev.Time, body)
		if err != nil {
			t.Fatalf("an accepted event does not rebuild: %v", err)
		}
		raw, _ := json.Marshal(rebuilt)
		if _, _, err := DecodeEvent(raw); err != nil {
			t.Fatalf("decode of rebuilt event: %v\n%s", err, raw)
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"id":"c1","ref":"` + CommandRef(nil) + `","status":"done","time":"2025-01-01T00:00:00Z","body":{}}`))
	f.Add([]byte(`{"ref":"` + CommandRef(nil) + `","status":"refused","reason":"malformed","time":"2025-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := DecodeReply(payload)
		if err != nil {
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("error %v is not a schema error", err)
			}
			return
		}
		if r.Reason != "" && !r.Reason.Valid() {
			return // a newer device's reason: read, but this build does not send it
		}
		raw, err := EncodeReply(r)
		if err != nil {
			t.Fatalf("an accepted reply does not encode: %v", err)
		}
		if _, err := DecodeReply(raw); err != nil {
			t.Fatalf("decode of re-encoded reply: %v", err)
		}
	})
}

func FuzzDecodeReplies(f *testing.F) {
	one := `{"id":"c1","ref":"` + CommandRef(nil) + `","status":"done","time":"2025-01-01T00:00:00Z"}`
	f.Add([]byte(one))
	f.Add([]byte(`[` + one + `,` + one + `]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		rs, err := DecodeReplies(payload)
		if err != nil && !errors.Is(err, ErrSchema) {
			t.Fatalf("error %v is not a schema error", err)
		}
		if len(rs) > MaxReplyBatch || (err == nil && len(rs) == 0) {
			t.Fatalf("%d replies accepted (err %v)", len(rs), err)
		}
		if len(rs) == 0 {
			return
		}
		var encoded [][]byte
		for _, r := range rs {
			if r.Reason != "" && !r.Reason.Valid() {
				continue // a newer device's reason: read, not sent
			}
			raw, err := EncodeReply(r)
			if err != nil {
				t.Fatalf("an accepted reply does not encode: %v", err)
			}
			encoded = append(encoded, raw)
		}
		if len(encoded) == 0 {
			return
		}
		again, err := DecodeReplies(JoinReplies(encoded))
		if err != nil || len(again) != len(encoded) {
			t.Fatalf("decode of re-joined replies: %d, %v", len(again), err)
		}
	})
}

func FuzzDecodePresence(f *testing.F) {
	f.Add([]byte(`{"state":"online","boot":"b","version":"1.0","time":"2025-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"state":"offline","boot":"b","version":"1.0","reason":"lost"}`))
	f.Add([]byte(`{"state":"online","boot":"b","version":"1.0","time":"2025-01-01T00:00:00Z","health":{"outbox":12,"alarms":["scanner=failed","cu16-1=degraded"]}}`))
	f.Add([]byte(`{"state":"online","boot":"b","version":"1.0","health":{"outbox":0}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		p, err := DecodePresence(payload)
		if err != nil {
			return
		}
		raw, err := EncodePresence(p)
		if err != nil {
			t.Fatalf("an accepted presence does not encode: %v", err)
		}
		if _, err := DecodePresence(raw); err != nil {
			t.Fatalf("decode of re-encoded presence: %v", err)
		}
	})
}
