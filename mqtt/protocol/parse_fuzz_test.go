package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Fuzz targets for the parsers fuzz_test.go does not cover: topic names, reply bodies
// and digests all arrive from the broker, from whoever managed to publish.

// FuzzTopicsParse splits arbitrary topics under arbitrary prefixes: an accepted topic
// rebuilds to exactly itself with a valid locker id and one of the four kinds, a
// refused one wraps ErrTopic with a bounded message, and the zero Topics accepts
// nothing.
func FuzzTopicsParse(f *testing.F) {
	tp := MustTopics("fleet/lockers")
	for _, k := range []Kind{KindCommand, KindReply, KindEvent, KindStatus} {
		f.Add("fleet/lockers", tp.Topic("L-001", k))
	}
	f.Add("lockers", "lockers/LK_0001/evt")
	f.Add("fleet/lockers", "other/L1/evt")
	f.Add("fleet/lockers", "fleet/lockers")
	f.Add("fleet/lockers", "fleet/lockers/L1")
	f.Add("fleet/lockers", "fleet/lockers/L1/evt/x")
	f.Add("fleet/lockers", "fleet/lockers/L1/logs")
	f.Add("fleet/lockers", "fleet/lockers/L.1/evt")
	f.Add("fleet/lockers", "fleet/lockers//evt")
	f.Add("fleet/lockers", "fleet/lockers/+/evt")
	f.Add("a", "a/"+strings.Repeat("L", 65)+"/cmd")
	f.Add("", "/L1/cmd")
	f.Add("$SYS", "$SYS/L1/cmd")
	f.Fuzz(func(t *testing.T, prefix, topic string) {
		var zero Topics
		if _, _, err := zero.Parse(topic); !errors.Is(err, ErrTopic) {
			t.Fatalf("the zero Topics parsed %q: %v", topic, err)
		}
		tp, err := NewTopics(prefix)
		if err != nil {
			if !errors.Is(err, ErrTopic) {
				t.Fatalf("NewTopics(%q): %v does not wrap ErrTopic", prefix, err)
			}
			tp = MustTopics("fleet/lockers")
		}
		id, kind, err := tp.Parse(topic)
		if err != nil {
			if !errors.Is(err, ErrTopic) || !strings.HasPrefix(err.Error(), "protocol: ") {
				t.Fatalf("Parse(%q): %v is not a protocol topic error", topic, err)
			}
			if id != "" || kind != "" {
				t.Fatalf("Parse(%q) refused but returned %q, %q", topic, id, kind)
			}
			// The topic is quoted into the error at most 200 runes long: a
			// megabyte topic must not become a megabyte log line.
			if n := len(err.Error()); n > 2048 {
				t.Fatalf("Parse error of %d bytes for a %d-byte topic", n, len(topic))
			}
			return
		}
		if kind != KindCommand && kind != KindReply && kind != KindEvent && kind != KindStatus {
			t.Fatalf("Parse(%q) accepted the unknown kind %q", topic, kind)
		}
		if ValidLockerID(id) != nil {
			t.Fatalf("Parse(%q) accepted the invalid locker id %q", topic, id)
		}
		if got := tp.Topic(id, kind); got != topic {
			t.Fatalf("Parse(%q) = %q, %q, which rebuilds to %q", topic, id, kind, got)
		}
	})
}

// FuzzDecodeResult decodes arbitrary reply bodies for every command type: errors are
// schema errors, and an accepted body re-encodes to JSON that decodes to the same
// result (unknown members, which the lenient decoder skips, are the only loss).
func FuzzDecodeResult(f *testing.F) {
	types := CommandTypes()
	index := func(typ CommandType) uint8 {
		for i, c := range types {
			if c == typ {
				return uint8(i)
			}
		}
		panic("unknown command type " + string(typ))
	}
	f.Add(index(CmdPing), []byte(`{"time":"2025-01-01T00:00:00Z","boot":"b"}`))
	f.Add(index(CmdInventory), []byte(`{"compartments":[{"id":1,"size":"S","kind":"door","parcels":["p1"]}]}`))
	f.Add(index(CmdAnnounce), []byte(`{"items":[{"parcel":"p1","status":"refused","reason":"conflict"}]}`))
	f.Add(index(CmdAnnounce), []byte(``))
	f.Add(index(CmdCancel), []byte(``))
	f.Add(index(CmdCancel), []byte(`{}`))
	f.Add(index(CmdStatus), []byte(``))
	f.Add(index(CmdStatus), []byte(`{"boot":"b","version":"1.2","uptime_s":5,"parcels":1,"compartments":4,"free":3,"disabled":0,"outbox":0,"policy_version":2,"drivers":{"cu16-1":"ok"},"x25519_public":"`+hexA+`","newer":true}`))
	f.Add(index(CmdAuditRange), []byte(`{"entries":{}}`))
	f.Add(index(CmdAuditRange), []byte(`{"entries":[{"seq":1,"id":"e1","type":"deposited","time":"2025-01-01T00:00:00+02:00","parcel":"p1","compartment":3,"hash":"`+hexB+`"}],"next":2}`))
	f.Add(index(CmdInventory), []byte(`{"compartments":[{"id":70000}]}`))
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		typ := types[int(which)%len(types)]
		res, err := DecodeResult(typ, raw)
		if err != nil {
			if !errors.Is(err, ErrSchema) || !strings.HasPrefix(err.Error(), "protocol: ") {
				t.Fatalf("DecodeResult(%s): %v is not a schema error", typ, err)
			}
			return
		}
		if res == nil {
			if NewResult(typ) != nil || len(raw) != 0 {
				t.Fatalf("DecodeResult(%s, %q) returned no result and no error", typ, raw)
			}
			return
		}
		if len(raw) == 0 {
			// Only announce takes an empty body ("every parcel applied"). Its empty
			// result is not sent back as is: {"items":null} is not an array, and no
			// device sends an announce body without items.
			if a, ok := res.(*AnnounceResult); !ok || typ != CmdAnnounce || len(a.Items) != 0 {
				t.Fatalf("DecodeResult(%s) of an empty body = %#v", typ, res)
			}
			return
		}
		first, err := EncodeResult(res)
		if err != nil {
			t.Fatalf("an accepted %s result does not encode: %v", typ, err)
		}
		again, err := DecodeResult(typ, first)
		if err != nil {
			t.Fatalf("the re-encoded %s result is refused: %v\n%s", typ, err, first)
		}
		second, err := EncodeResult(again)
		if err != nil || !bytes.Equal(first, second) {
			t.Fatalf("a %s result changed in a round trip (%v):\n%s\n%s", typ, err, first, second)
		}
	})
}

// FuzzParseDigest checks that the one spelling of a digest round-trips, that
// UnmarshalText agrees with ParseDigest, and that a refusal is a schema error that
// never repeats the input: its message is one of the two fixed forms.
func FuzzParseDigest(f *testing.F) {
	f.Add(hexA)
	f.Add(hexB)
	f.Add(strings.Repeat("0", 64))
	f.Add(strings.ToUpper(hexA))
	f.Add(hexA[:63])
	f.Add(hexA + "0")
	f.Add(hexA[:62] + "g0")
	f.Add(hexA[:63] + "é")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		var viaText Digest
		textErr := viaText.UnmarshalText([]byte(s))
		if (err == nil) != (textErr == nil) || d != viaText {
			t.Fatalf("ParseDigest and UnmarshalText disagree on %q: %v / %v", s, err, textErr)
		}
		if err != nil {
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("ParseDigest(%q): %v is not a schema error", s, err)
			}
			short := "protocol: bad digest: want 64 lower-case hex digits"
			long := fmt.Sprintf("%s, got %d characters", short, len(s))
			if msg := err.Error(); msg != short && msg != long {
				t.Fatalf("ParseDigest(%q): unexpected message %q", s, msg)
			}
			if d != (Digest{}) {
				t.Fatalf("ParseDigest(%q) refused but returned %x", s, d)
			}
			return
		}
		if d.Hex() != s {
			t.Fatalf("ParseDigest(%q) = %s: not the input's one spelling", s, d.Hex())
		}
		text, _ := d.MarshalText()
		if string(text) != s || !strings.HasPrefix(s, d.String()) || len(d.String()) != 8 {
			t.Fatalf("digest %q encodes as %q, shows as %q", s, text, d.String())
		}
		var inJSON struct{ D Digest }
		if err := json.Unmarshal([]byte(`{"D":"`+s+`"}`), &inJSON); err != nil || inJSON.D != d {
			t.Fatalf("digest %q does not decode from JSON: %v", s, err)
		}
	})
}
