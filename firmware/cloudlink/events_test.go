package cloudlink

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestWireEvent covers every station event type: sent with which body, or kept local
// (ADR 0026).
func TestWireEvent(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	wb := privacy.Digest{1, 2, 3}
	cases := []struct {
		name string
		ev   locker.Event
		typ  protocol.EventType // "" : not sent
		body string             // JSON of the body, when sent
	}{
		{"deposited by a courier", locker.Event{Type: locker.EvDeposited, Parcel: "p-1", Compartment: 4, Actor: "c-1"},
			protocol.EvDeposited, `{"parcel":"p-1","compartment":4,"actor":"c-1"}`},
		{"unannounced deposit carries the waybill digest", locker.Event{Type: locker.EvDeposited, Parcel: "u-9", Compartment: 2, Waybill: &wb},
			protocol.EvDeposited, `{"parcel":"u-9","compartment":2,"waybill":"0102030000000000000000000000000000000000000000000000000000000000"}`},
		{"picked up", locker.Event{Type: locker.EvPickedUp, Parcel: "p-1", Compartment: 4, Actor: locker.ActorRecipient},
			protocol.EvPickedUp, `{"parcel":"p-1","compartment":4,"actor":"recipient"}`},
		{"expired", locker.Event{Type: locker.EvExpired, Parcel: "p-1", Compartment: 4, Actor: locker.ActorSystem},
			protocol.EvExpired, `{"parcel":"p-1","compartment":4,"actor":"system"}`},
		{"retrieved", locker.Event{Type: locker.EvRetrieved, Parcel: "p-1", Compartment: 4, Actor: "c-2"},
			protocol.EvRetrieved, `{"parcel":"p-1","compartment":4,"actor":"c-2"}`},
		{"cancelled by a command", locker.Event{Type: locker.EvCancelled, Parcel: "p-1", Actor: "cloud", Reason: locker.CommandReason("cloud", "cmd-1")},
			protocol.EvCancelled, `{"parcel":"p-1","actor":"cloud","command":"cmd-1"}`},
		{"recalled", locker.Event{Type: locker.EvRecalled, Parcel: "p-1", Compartment: 4, Actor: "cloud", Reason: locker.CommandReason("cloud", "cmd-2")},
			protocol.EvRecalled, `{"parcel":"p-1","compartment":4,"actor":"cloud","command":"cmd-2"}`},
		{"free-text actor dropped", locker.Event{Type: locker.EvDeposited, Parcel: "p-1", Compartment: 4, Actor: "Jane on site"},
			protocol.EvDeposited, `{"parcel":"p-1","compartment":4}`},
		{"unlocked for a pickup", locker.Event{Type: locker.EvUnlocked, Compartment: 4, Parcel: "p-1", Op: locker.OpPickup},
			protocol.EvUnlocked, `{"compartment":4,"op":"pickup","parcel":"p-1"}`},
		{"unlock failed", locker.Event{Type: locker.EvUnlockFailed, Compartment: 4, Op: locker.OpPickup, Reason: "driver error"},
			protocol.EvUnlockFailed, `{"compartment":4,"op":"pickup"}`},
		{"door opened outside an operation", locker.Event{Type: locker.EvDoorOpened, Compartment: 4},
			protocol.EvDoorOpened, `{"compartment":4,"op":"none"}`},
		{"door closed after a remote open", locker.Event{Type: locker.EvDoorClosed, Compartment: 4, Op: locker.OpOperator},
			protocol.EvDoorClosed, `{"compartment":4,"op":"operator"}`},
		{"jammed", locker.Event{Type: locker.EvJammed, Compartment: 4, Parcel: "p-1", Op: locker.OpDeposit},
			protocol.EvJammed, `{"compartment":4,"op":"deposit","parcel":"p-1"}`},
		{"forced", locker.Event{Type: locker.EvForced, Compartment: 4, Reason: "door opened without a command"},
			protocol.EvForced, `{"compartment":4,"op":"none"}`},
		{"left open", locker.Event{Type: locker.EvLeftOpen, Compartment: 4, Seconds: 91, Reason: "wording the cloud must not depend on"},
			protocol.EvLeftOpen, `{"compartment":4,"open_s":91,"op":"none"}`},
		{"left open after a deposit", locker.Event{Type: locker.EvLeftOpen, Compartment: 4, Parcel: "p-1", Op: locker.OpDeposit, Seconds: 91},
			protocol.EvLeftOpen, `{"compartment":4,"open_s":91,"op":"deposit","parcel":"p-1"}`},
		{"code throttle", locker.Event{Type: locker.EvThrottled, Count: 6, Source: locker.ThrottleCode, Seconds: 60},
			protocol.EvThrottled, `{"source":"code","failures":6,"delay_s":60}`},
		{"courier throttle", locker.Event{Type: locker.EvThrottled, Count: 5, Source: locker.ThrottleCourier, Seconds: 30},
			protocol.EvThrottled, `{"source":"courier","failures":5,"delay_s":30}`},
		{"reconciled deposit, door never seen", locker.Event{Type: locker.EvReconciled, Compartment: 4, Op: locker.OpDeposit, Outcome: locker.ReconcileUnverified},
			protocol.EvReconciled, `{"compartment":4,"op":"deposit","outcome":"unverified"}`},
		{"reconciled pickup, door seen", locker.Event{Type: locker.EvReconciled, Compartment: 4, Op: locker.OpPickup, Outcome: locker.ReconcileCompleted},
			protocol.EvReconciled, `{"compartment":4,"op":"pickup","outcome":"completed"}`},
		{"reconciled deposit undone", locker.Event{Type: locker.EvReconciled, Compartment: 4, Op: locker.OpDeposit, Outcome: locker.ReconcileUndone},
			protocol.EvReconciled, `{"compartment":4,"op":"deposit","outcome":"undone"}`},
		{"wrong parcel", locker.Event{Type: locker.EvWrongParcel, Actor: locker.ActorStaff, Count: 2},
			protocol.EvWrongParcel, `{"actor":"staff","waiting":2}`},
		{"hardware", locker.Event{Type: locker.EvHardware, Actor: "bus0", Report: []byte(`{"component":"bus0","state":"failed","code":"fault"}`)},
			protocol.EvHardware, `{"component":"bus0","state":"failed","code":"fault"}`},
		{"health", locker.Event{Type: locker.EvHealth, Report: []byte(`{"uptime_s":5,"storage_free_bytes":7,"outbox":1,"parcels":2}`)},
			protocol.EvHealth, `{"uptime_s":5,"storage_free_bytes":7,"outbox":1,"parcels":2}`},
		{"broken health report", locker.Event{Type: locker.EvHealth, Report: []byte(`{"uptime_s":-5}`)}, "", ""},
		{"update step", locker.Event{Type: locker.EvUpdate, Report: []byte(`{"step":"rolled_back","version":"1.2.0-1","reason":"unhealthy","command":"c-9"}`)},
			protocol.EvUpdate, `{"step":"rolled_back","version":"1.2.0-1","reason":"unhealthy","command":"c-9"}`},
		{"unknown update step", locker.Event{Type: locker.EvUpdate, Report: []byte(`{"step":"flashed"}`)}, "", ""},
		{"health report in the reason is not read", locker.Event{Type: locker.EvHealth, Reason: `{"uptime_s":5,"storage_free_bytes":7,"outbox":1,"parcels":2}`}, "", ""},
		{"reconciled with an unknown outcome", locker.Event{Type: locker.EvReconciled, Compartment: 4, Op: locker.OpPickup, Outcome: "maybe"}, "", ""},
		{"parcel event without a valid parcel id", locker.Event{Type: locker.EvDeposited, Parcel: "p 1"}, "", ""},
		{"announced: the reply said so", locker.Event{Type: locker.EvAnnounced, Count: 3}, "", ""},
		{"verifier set: the reply said so", locker.Event{Type: locker.EvVerifierSet, Parcel: "p-1"}, "", ""},
		{"deposit aborted: door events tell", locker.Event{Type: locker.EvDepositAborted, Parcel: "p-1", Compartment: 4}, "", ""},
		{"reserved: a step", locker.Event{Type: locker.EvReserved, Compartment: 4}, "", ""},
		{"purged: housekeeping", locker.Event{Type: locker.EvPurged, Count: 9}, "", ""},
		{"audit pruned: housekeeping", locker.Event{Type: locker.EvAuditPruned, Count: 9}, "", ""},
		{"resolved: the reply said so", locker.Event{Type: locker.EvResolved, Compartment: 4, Actor: "op-1"}, "", ""},
		{"compartment disabled: the reply said so", locker.Event{Type: locker.EvCompartmentDisabled, Compartment: 4}, "", ""},
		{"compartment enabled: the reply said so", locker.Event{Type: locker.EvCompartmentEnabled, Compartment: 4}, "", ""},
		{"courier upserted: the reply said so", locker.Event{Type: locker.EvCourierUpserted}, "", ""},
		{"courier revoked: the reply said so", locker.Event{Type: locker.EvCourierRevoked}, "", ""},
		{"policy changed: the reply said so", locker.Event{Type: locker.EvPolicyChanged, Count: 2}, "", ""},
		{"started: presence says so", locker.Event{Type: locker.EvStarted}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.ID, tc.ev.Seq, tc.ev.At = "0123456789abcdef", 77, at
			got, ok := wireEvent(tc.ev, 5)
			if keepEvent(tc.ev) != ok {
				t.Fatal("keepEvent disagrees with wireEvent")
			}
			if tc.typ == "" {
				if ok {
					t.Fatalf("sent as %s %s", got.Type, got.Body)
				}
				return
			}
			if !ok {
				t.Fatal("not sent")
			}
			if got.Type != tc.typ || got.Seq != 5 || got.ID != tc.ev.ID || !got.Time.Equal(at) {
				t.Fatalf("event %+v", got)
			}
			if !jsonEqual(t, got.Body, tc.body) {
				t.Fatalf("body %s\nwant %s", got.Body, tc.body)
			}
		})
	}
}

func jsonEqual(t *testing.T, a json.RawMessage, b string) bool {
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatal(err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// FuzzWireEvent feeds the conversion arbitrary station events (operations, outcomes,
// sources, durations and reports it does not control): it never panics, and what it
// sends decodes as a valid protocol event.
func FuzzWireEvent(f *testing.F) {
	f.Add("left_open", "", "", "", "", int64(91), 4, 0)
	f.Add("throttled", "", "", "code", "", int64(3600), 0, 6)
	f.Add("reconciled", "deposit", "unverified", "", "", int64(0), 3, 0)
	f.Add("health", "", "", "", `{"uptime_s":5,"storage_free_bytes":7,"outbox":1,"parcels":2}`, int64(0), 0, 0)
	f.Add("hardware", "", "", "", `{"component":"bus0","state":"ok"}`, int64(0), 0, 0)
	f.Add("door_closed", "operator", "", "", "", int64(0), 2, 0)
	f.Fuzz(func(t *testing.T, typ, op, outcome, source, report string, seconds int64, compartment, count int) {
		e := locker.Event{ID: "0123456789abcdef", Seq: 1, Type: locker.EventType(typ), At: time.Unix(1700000000, 0),
			Parcel: "p-1", Compartment: locker.CompartmentID(compartment), Actor: "system", Count: count,
			Op: locker.Op(op), Outcome: outcome, Source: source, Seconds: seconds, Report: []byte(report)}
		ev, ok := wireEvent(e, 9)
		if !ok {
			return
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := protocol.DecodeEvent(raw); err != nil {
			t.Fatalf("sent an event the protocol refuses: %v\n%s", err, raw)
		}
	})
}
