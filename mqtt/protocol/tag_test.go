package protocol

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

var tagKey = bytes.Repeat([]byte{0x42}, 32)

func tagEvent(t *testing.T) []byte {
	t.Helper()
	e, err := NewEvent("e-1", 7, EvPickedUp, time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC), &ParcelEvent{Parcel: "p-1", Compartment: 3})
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, &e)
}

func tagReplies(t *testing.T) []byte {
	t.Helper()
	var enc [][]byte
	for _, id := range []string{"c-1", "c-2"} {
		r := Reply{ID: id, Ref: CommandRef([]byte(id)), Typ: CmdCourierRevoke, Status: StatusDone, Time: time.Unix(1, 0).UTC()}
		b, err := EncodeReply(&r)
		if err != nil {
			t.Fatal(err)
		}
		enc = append(enc, b)
	}
	return JoinReplies(enc)
}

// TestTagRoundTrip: a tagged message verifies under the same key, kind and locker and
// gives back the exact bytes tagged; receivers that ignore the tag still decode it.
func TestTagRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name    string
		kind    Kind
		payload []byte
	}{
		{"event", KindEvent, tagEvent(t)},
		{"one reply", KindReply, tagReplies(t)[1 : bytes.IndexByte(tagReplies(t), '}')+1]},
		{"replies of a run", KindReply, tagReplies(t)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := AppendTag(tagKey, tt.kind, "L-1", tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(msg) != len(tt.payload)+TagMemberLen {
				t.Fatalf("tagged message is %d bytes longer, want %d", len(msg)-len(tt.payload), TagMemberLen)
			}
			got, err := VerifyTag(tagKey, tt.kind, "L-1", msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.payload) {
				t.Fatalf("verified payload differs:\n%s\n%s", got, tt.payload)
			}
			if tt.kind == KindEvent {
				if _, _, err := DecodeEvent(msg); err != nil {
					t.Fatalf("a tagged event does not decode without verification: %v", err)
				}
			} else if rs, err := DecodeReplies(msg); err != nil || len(rs) == 0 {
				t.Fatalf("tagged replies do not decode without verification: %v", err)
			}
		})
	}
}

// TestTagRefusals: every change of the bytes, the key, the kind or the locker fails.
func TestTagRefusals(t *testing.T) {
	ev := tagEvent(t)
	msg, err := AppendTag(tagKey, KindEvent, "L-1", ev)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := bytes.Repeat([]byte{0x43}, 32)
	altered := bytes.Replace(msg, []byte(`"seq":7`), []byte(`"seq":8`), 1)
	replyTagged, _ := AppendTag(tagKey, KindReply, "L-1", ev)
	otherLocker, _ := AppendTag(tagKey, KindEvent, "L-2", ev)
	for _, tt := range []struct {
		name string
		key  []byte
		kind Kind
		msg  []byte
		want error
	}{
		{"untagged", tagKey, KindEvent, ev, ErrNoTag},
		{"altered payload", tagKey, KindEvent, altered, ErrBadTag},
		{"another key", otherKey, KindEvent, msg, ErrBadTag},
		{"a reply's tag on an event", tagKey, KindEvent, replyTagged, ErrBadTag},
		{"another locker's tag", tagKey, KindEvent, otherLocker, ErrBadTag},
		{"trailing space", tagKey, KindEvent, append(bytes.Clone(msg), ' '), ErrNoTag},
		{"empty", tagKey, KindEvent, nil, ErrNoTag},
		{"short tag", tagKey, KindEvent, bytes.Replace(ev, []byte(`}`), []byte(`,"mac":"AAAA"}`), 1), ErrNoTag},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := VerifyTag(tt.key, tt.kind, "L-1", tt.msg); !errors.Is(err, tt.want) {
				t.Fatalf("VerifyTag: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := AppendTag(tagKey, KindEvent, "L-1", []byte(`{}`)); err == nil {
		t.Fatal("an empty object was tagged")
	}
	if _, err := AppendTag(tagKey, KindStatus, "L-1", ev); err == nil {
		t.Fatal("a presence message was tagged")
	}
}

// FuzzVerifyTag: VerifyTag never panics, and whatever it accepts is exactly what
// AppendTag makes of the payload it returns.
func FuzzVerifyTag(f *testing.F) {
	ev := []byte(`{"id":"e-1","seq":1,"type":"health","time":"2026-12-06T10:00:00Z","body":{}}`)
	good, _ := AppendTag(tagKey, KindEvent, "L-1", ev)
	arr, _ := AppendTag(tagKey, KindEvent, "L-1", []byte(`[{"a":1},{"b":2}]`))
	f.Add(good)
	f.Add(arr)
	f.Add(ev)
	f.Add([]byte(`,"mac":"` + string(bytes.Repeat([]byte{'A'}, TagLen)) + `"}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		payload, err := VerifyTag(tagKey, KindEvent, "L-1", msg)
		if err != nil {
			if !errors.Is(err, ErrNoTag) && !errors.Is(err, ErrBadTag) {
				t.Fatalf("error %v is neither ErrNoTag nor ErrBadTag", err)
			}
			return
		}
		again, err := AppendTag(tagKey, KindEvent, "L-1", payload)
		if err != nil || !bytes.Equal(again, msg) {
			t.Fatalf("accepted %q, but its payload tags to %q (%v)", msg, again, err)
		}
	})
}

// BenchmarkAppendTag is the device's cost per message: one reply, and the largest
// message of a run (ADR 0031). BenchmarkVerifyTag is the fleet's.
func BenchmarkAppendTag(b *testing.B) {
	r := Reply{ID: "a-1-1", Ref: CommandRef([]byte("x")), Typ: CmdAnnounce, Status: StatusDone, Time: time.Now().UTC(), Body: []byte(`{"accepted":1}`)}
	one, _ := EncodeReply(&r)
	var run [][]byte
	for size := 0; size+len(one) < MaxReplyMessage-TagMemberLen-MaxReplyBatch-2 && len(run) < MaxReplyBatch; size += len(one) {
		run = append(run, one)
	}
	for _, m := range []struct {
		name string
		msg  []byte
	}{{"one-reply", one}, {"run-of-" + itoa(len(run)), JoinReplies(run)}} {
		b.Run(m.name, func(b *testing.B) {
			b.SetBytes(int64(len(m.msg)))
			for b.Loop() {
				if _, err := AppendTag(tagKey, KindReply, "LK-0001", m.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyTag(b *testing.B) {
	e := []byte(`{"id":"e-1","seq":1,"type":"picked_up","time":"2026-12-06T10:00:00Z","body":{"parcel":"p-1","compartment":3}}`)
	msg, _ := AppendTag(tagKey, KindEvent, "LK-0001", e)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := VerifyTag(tagKey, KindEvent, "LK-0001", msg); err != nil {
			b.Fatal(err)
		}
	}
}
