package protocol

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReplyMessages: a reply message is one reply or an array of them (ADR 0031);
// JoinReplies makes what DecodeReplies reads, and a bad array is refused with the
// index of the bad reply, never its values.
func TestReplyMessages(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var encoded [][]byte
	for i := range 3 {
		raw, err := EncodeReply(&Reply{ID: fmt.Sprintf("c%d", i), Ref: CommandRef([]byte{byte(i)}), Typ: CmdPing, Status: StatusDone, Time: now})
		if err != nil {
			t.Fatal(err)
		}
		encoded = append(encoded, raw)
	}
	for n := 1; n <= 3; n++ {
		msg := JoinReplies(encoded[:n])
		if n == 1 && string(msg) != string(encoded[0]) {
			t.Fatalf("one reply is sent as itself, got %s", msg)
		}
		if n > 1 && (msg[0] != '[' || msg[len(msg)-1] != ']') {
			t.Fatalf("several replies are an array, got %s", msg)
		}
		rs, err := DecodeReplies(msg)
		if err != nil || len(rs) != n {
			t.Fatalf("DecodeReplies(%s) = %d replies, %v", msg, len(rs), err)
		}
		for i, r := range rs {
			if r.ID != fmt.Sprintf("c%d", i) || r.Ref != CommandRef([]byte{byte(i)}) || r.Status != StatusDone {
				t.Fatalf("reply %d = %+v", i, r)
			}
		}
	}
	if rs, err := DecodeReplies([]byte(" \n[" + string(encoded[0]) + "]")); err != nil || len(rs) != 1 {
		t.Fatalf("an array of one after white space: %d, %v", len(rs), err)
	}

	// A reason this build does not know (a newer device's) is read, not refused: the
	// reply is still a final refusal (docs/protocol.md §7).
	newer, err := DecodeReplies([]byte(`{"id":"n1","ref":"` + CommandRef(nil) + `","status":"refused","reason":"door_blocked","time":"2026-11-27T12:00:00Z"}`))
	if err != nil || len(newer) != 1 || newer[0].Status != StatusRefused || newer[0].Reason != "door_blocked" || newer[0].Reason.Valid() {
		t.Fatalf("a newer reason: %+v, %v", newer, err)
	}

	secret := "PIN-4711" // a value in a bad reply must not reach the error
	bad := []struct {
		name, payload, path string
		problem             Problem
		kept                []string // ids of the replies still returned
	}{
		{"empty array", `[]`, "", ProblemBadValue, nil},
		{"null element", `[` + string(encoded[0]) + `,null]`, "[1]", ProblemWrongType, []string{"c0"}},
		{"bad element", `[` + string(encoded[0]) + `,{"id":"` + secret + `!","ref":"x","status":"done","time":"2026-11-27T12:00:00Z"},` + string(encoded[2]) + `]`, "[1].id", ProblemBadIdentifier, []string{"c0", "c2"}},
		{"malformed reason", `[{"id":"n1","ref":"` + CommandRef(nil) + `","status":"refused","reason":"solar flare!","time":"2026-11-27T12:00:00Z"},` + string(encoded[1]) + `]`, "[0].reason", ProblemBadValue, []string{"c1"}},
		{"missing reason", `[{"ref":"` + CommandRef(nil) + `","status":"refused","time":"2026-11-27T12:00:00Z"}]`, "[0].reason", ProblemMissingField, nil},
		{"not a reply", `[1]`, "[0]", ProblemWrongType, nil},
		{"too many", `[` + strings.Repeat(string(encoded[0])+",", MaxReplyBatch) + string(encoded[0]) + `]`, "", ProblemTooMany, nil},
		{"not JSON", `[{`, "", ProblemMalformed, nil},
		{"empty", ``, "", ProblemMalformed, nil},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := DecodeReplies([]byte(tc.payload))
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("DecodeReplies = %d replies, %v; want a schema error", len(rs), err)
			}
			if se.Problem != tc.problem || (tc.path != "" && se.Path != tc.path) {
				t.Fatalf("error %v: want %s at %q", err, tc.problem, tc.path)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %v repeats a value", err)
			}
			var kept []string
			for _, r := range rs {
				kept = append(kept, r.ID)
			}
			if !slices.Equal(kept, tc.kept) {
				t.Fatalf("replies kept %v, want %v: one bad reply must not hide the others", kept, tc.kept)
			}
		})
	}
}
