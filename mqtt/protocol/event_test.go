package protocol

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEventRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 1, 10, 0, 0, 123e6, time.FixedZone("CST", 8*3600))
	wb := Digest{7}
	tests := []struct {
		name string
		typ  EventType
		body EventBody
	}{
		{name: "deposited", typ: EvDeposited, body: &ParcelEvent{Parcel: "p1", Compartment: 3, Actor: "courier-9", Size: SizeM}},
		{name: "unannounced deposit", typ: EvDeposited, body: &ParcelEvent{Parcel: "u-1f", Compartment: 4, Waybill: &wb}},
		{name: "picked up", typ: EvPickedUp, body: &ParcelEvent{Parcel: "p1", Compartment: 3, Actor: "recipient"}},
		{name: "expired", typ: EvExpired, body: &ParcelEvent{Parcel: "p1"}},
		{name: "retrieved", typ: EvRetrieved, body: &ParcelEvent{Parcel: "p1", Actor: "courier-9"}},
		{name: "relay pulsed", typ: EvUnlocked, body: &DoorEvent{Compartment: 3, Op: OpOperator, Command: "cmd-77", Actor: "op-1"}},
		{name: "door opened", typ: EvDoorOpened, body: &DoorEvent{Compartment: 3, Op: OpPickup, Parcel: "p1"}},
		{name: "door closed", typ: EvDoorClosed, body: &DoorEvent{Compartment: 3}},
		{name: "jammed", typ: EvJammed, body: &DoorEvent{Compartment: 3, Op: OpPickup}},
		{name: "forced", typ: EvForced, body: &DoorEvent{Compartment: 3, Op: OpNone}},
		{name: "left open", typ: EvLeftOpen, body: &DoorEvent{Compartment: 3, OpenS: 95}},
		{name: "throttled", typ: EvThrottled, body: &ThrottledEvent{Source: ThrottleCode, Failures: 6, DelayS: 60}},
		{name: "guessing", typ: EvGuessing, body: &GuessingEvent{Source: ThrottleQR, Failures: 31, WindowS: 3600}},
		{name: "throttle cleared", typ: EvThrottleCleared, body: &ThrottleClearedEvent{Source: ThrottleCourier, Actor: "op-1", Command: "c-9"}},
		{name: "hardware", typ: EvHardware, body: &HardwareEvent{Component: "lockboard-1", State: HealthFailed, Code: "no_reply"}},
		{name: "health", typ: EvHealth, body: &HealthEvent{UptimeS: 3600, StorageFree: 1 << 30, Outbox: 2, Parcels: 40, Drivers: map[string]Health{"lockboard-1": HealthOK}}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := NewEvent("e-"+itoa(i), uint64(i+1), tc.typ, at, tc.body)
			if err != nil {
				t.Fatalf("NewEvent: %v", err)
			}
			if ev.Time.Location() != time.UTC {
				t.Fatal("event time not normalised to UTC")
			}
			raw := mustJSON(t, ev)
			got, body, err := DecodeEvent(raw)
			if err != nil {
				t.Fatalf("DecodeEvent(%s): %v", raw, err)
			}
			if got.ID != ev.ID || got.Seq != ev.Seq || got.Type != tc.typ || !got.Time.Equal(at) {
				t.Fatalf("got %+v", got)
			}
			if string(mustJSON(t, body)) != string(mustJSON(t, tc.body)) {
				t.Fatalf("body %s, want %s", mustJSON(t, body), mustJSON(t, tc.body))
			}
		})
	}
}

func TestEventRefusals(t *testing.T) {
	at := time.Unix(1700000000, 0)
	build := []struct {
		name string
		id   string
		seq  uint64
		typ  EventType
		body EventBody
	}{
		{name: "body of another type", id: "e1", seq: 1, typ: EvDeposited, body: &DoorEvent{Compartment: 1}},
		{name: "seq zero", id: "e1", seq: 0, typ: EvDoorClosed, body: &DoorEvent{Compartment: 1}},
		{name: "bad id", id: "e 1", seq: 1, typ: EvDoorClosed, body: &DoorEvent{Compartment: 1}},
		{name: "unknown type", id: "e1", seq: 1, typ: "exploded", body: &DoorEvent{Compartment: 1}},
		{name: "compartment zero", id: "e1", seq: 1, typ: EvDoorClosed, body: &DoorEvent{}},
		{name: "bad actor", id: "e1", seq: 1, typ: EvPickedUp, body: &ParcelEvent{Parcel: "p", Actor: "Mr. Wang /"}},
		{name: "bad health", id: "e1", seq: 1, typ: EvHardware, body: &HardwareEvent{Component: "x", State: "meh"}},
		{name: "bad driver name", id: "e1", seq: 1, typ: EvHealth, body: &HealthEvent{Drivers: map[string]Health{"a b": HealthOK}}},
		{name: "bad throttle source", id: "e1", seq: 1, typ: EvThrottled, body: &ThrottledEvent{Source: "x"}},
		{name: "qr is no throttle", id: "e1", seq: 1, typ: EvThrottled, body: &ThrottledEvent{Source: ThrottleQR}},
		{name: "courier is no guessing source", id: "e1", seq: 1, typ: EvGuessing, body: &GuessingEvent{Source: ThrottleCourier}},
		{name: "throttle cleared without actor", id: "e1", seq: 1, typ: EvThrottleCleared, body: &ThrottleClearedEvent{Source: ThrottleCode}},
	}
	for _, tc := range build {
		t.Run("new "+tc.name, func(t *testing.T) {
			if _, err := NewEvent(tc.id, tc.seq, tc.typ, at, tc.body); !errors.Is(err, ErrSchema) {
				t.Fatalf("got %v, want ErrSchema", err)
			}
		})
	}
	decode := []struct {
		name    string
		payload string
		problem Problem
	}{
		{name: "unknown event type", payload: `{"id":"e","seq":1,"type":"teleported","time":"2025-01-01T00:00:00Z","body":{}}`, problem: ProblemUnknownType},
		{name: "seq as string", payload: `{"id":"e","seq":"1","type":"door_closed","time":"2025-01-01T00:00:00Z","body":{"compartment":1}}`, problem: ProblemWrongType},
		{name: "missing time", payload: `{"id":"e","seq":1,"type":"door_closed","body":{"compartment":1}}`, problem: ProblemMissingField},
		{name: "missing body member", payload: `{"id":"e","seq":1,"type":"picked_up","time":"2025-01-01T00:00:00Z","body":{}}`, problem: ProblemMissingField},
		{name: "bad waybill digest", payload: `{"id":"e","seq":1,"type":"deposited","time":"2025-01-01T00:00:00Z","body":{"parcel":"p","waybill":"RB123"}}`, problem: ProblemBadDigest},
	}
	for _, tc := range decode {
		t.Run("decode "+tc.name, func(t *testing.T) {
			_, _, err := DecodeEvent([]byte(tc.payload))
			var se *SchemaError
			if !errors.As(err, &se) || se.Problem != tc.problem {
				t.Fatalf("got %v, want %s", err, tc.problem)
			}
		})
	}
}

// TestDecodeEventIgnoresNewMembers: a newer device may add members; an
// older cloud must still read the event.
func TestDecodeEventIgnoresNewMembers(t *testing.T) {
	payload := `{"id":"e","seq":9,"type":"door_closed","time":"2025-01-01T00:00:00Z","boot":"b1","body":{"compartment":2,"temperature_c":21}}`
	ev, body, err := DecodeEvent([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 9 || body.(*DoorEvent).Compartment != 2 {
		t.Fatalf("got %+v %+v", ev, body)
	}
}

func TestReplyAndPresence(t *testing.T) {
	now := time.Unix(1700000000, 0).UTC()
	ref := CommandRef([]byte("token"))
	replies := []struct {
		name  string
		reply Reply
		ok    bool
	}{
		{name: "done", reply: Reply{ID: "c1", Ref: ref, Typ: CmdPing, Status: StatusDone, Time: now, Body: []byte(`{"time":"2025-01-01T00:00:00Z","boot":"b"}`)}, ok: true},
		{name: "accepted", reply: Reply{ID: "c1", Ref: ref, Status: StatusAccepted, Time: now}, ok: true},
		{name: "refusal of unreadable", reply: Reply{Ref: ref, Status: StatusRefused, Reason: ReasonMalformed, Detail: "not a compact JWS", Time: now}, ok: true},
		{name: "refused without reason", reply: Reply{ID: "c1", Ref: ref, Status: StatusRefused, Time: now}},
		{name: "unknown status", reply: Reply{ID: "c1", Ref: ref, Status: "maybe", Time: now}},
		{name: "unknown reason", reply: Reply{ID: "c1", Ref: ref, Status: StatusFailed, Reason: "gremlins", Time: now}},
		{name: "bad ref", reply: Reply{ID: "c1", Ref: "x", Status: StatusDone, Time: now}},
		{name: "long detail", reply: Reply{ID: "c1", Ref: ref, Status: StatusFailed, Reason: ReasonInternal, Detail: strings.Repeat("d", 201), Time: now}},
		{name: "zero time", reply: Reply{ID: "c1", Ref: ref, Status: StatusDone}},
	}
	for _, tc := range replies {
		t.Run("reply "+tc.name, func(t *testing.T) {
			raw, err := EncodeReply(&tc.reply)
			if (err == nil) != tc.ok {
				t.Fatalf("EncodeReply: %v", err)
			}
			if !tc.ok {
				return
			}
			got, err := DecodeReply(raw)
			if err != nil || got.Status != tc.reply.Status || got.Ref != ref || got.ID != tc.reply.ID {
				t.Fatalf("DecodeReply(%s) = %+v, %v", raw, got, err)
			}
		})
	}
	presences := []struct {
		name string
		p    Presence
		ok   bool
	}{
		{name: "birth", p: Presence{State: Online, Boot: "b-1", Version: "1.2.0", Time: now}, ok: true},
		{name: "will", p: Presence{State: Offline, Boot: "b-1", Version: "1.2.0", Reason: PresenceLost}, ok: true},
		{name: "bad state", p: Presence{State: "asleep", Boot: "b-1", Version: "1"}},
		{name: "no boot", p: Presence{State: Online, Version: "1"}},
		{name: "bad reason", p: Presence{State: Offline, Boot: "b", Version: "1", Reason: "bored"}},
	}
	for _, tc := range presences {
		t.Run("presence "+tc.name, func(t *testing.T) {
			raw, err := EncodePresence(&tc.p)
			if (err == nil) != tc.ok {
				t.Fatalf("EncodePresence: %v", err)
			}
			if tc.ok {
				if got, err := DecodePresence(raw); err != nil || *got != tc.p {
					t.Fatalf("DecodePresence = %+v, %v", got, err)
				}
			}
		})
	}
}

func TestResults(t *testing.T) {
	tests := []struct {
		name string
		typ  CommandType
		raw  string
		ok   bool
	}{
		{name: "ping", typ: CmdPing, raw: `{"time":"2025-01-01T00:00:00Z","boot":"b"}`, ok: true},
		{name: "inventory", typ: CmdInventory, raw: `{"compartments":[{"id":1,"size":"S","kind":"door","parcels":["p1"]}]}`, ok: true},
		{name: "announce partial", typ: CmdAnnounce, raw: `{"items":[{"parcel":"p1","status":"refused","reason":"conflict"}]}`, ok: true},
		{name: "announce all applied: no body", typ: CmdAnnounce, raw: ``, ok: true},
		{name: "cancel has no body", typ: CmdCancel, raw: ``, ok: true},
		{name: "cancel with body", typ: CmdCancel, raw: `{}`},
		{name: "status without body", typ: CmdStatus, raw: ``},
		{name: "wrong type", typ: CmdAuditRange, raw: `{"entries":{}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeResult(tc.typ, []byte(tc.raw))
			if (err == nil) != tc.ok {
				t.Fatalf("DecodeResult: %v", err)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := EncodeResult(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
