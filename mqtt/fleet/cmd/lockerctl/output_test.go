package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from what the tests print")

// golden compares got with testdata/NAME.golden (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func reply(typ protocol.CommandType, res any) *protocol.Reply {
	r := &protocol.Reply{ID: "c-1", Ref: "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU", Typ: typ, Status: protocol.StatusDone, Time: t0}
	if res != nil {
		r.Body, _ = json.Marshal(res)
	}
	return r
}

// tableCases are the results that have a table form, one golden file each.
func tableCases() []struct {
	name string
	v    any
} {
	five, zero := 5, 0
	h := t0.Add(-time.Hour)
	partial := reply(protocol.CmdAnnounce, protocol.AnnounceResult{Items: []protocol.ItemResult{{Parcel: "p-2", Status: protocol.StatusRefused, Reason: protocol.ReasonConflict}}})
	partial.Reason, partial.Detail = protocol.ReasonPartial, "some parcels were refused"
	return []struct {
		name string
		v    any
	}{
		{"status", reply(protocol.CmdStatus, protocol.StatusResult{Boot: "b-7", Version: "1.4.2", UptimeS: 93784, Parcels: 12,
			Compartments: 24, Free: 11, Disabled: 1, Outbox: 3, PolicyVersion: 2, CodeFailures24h: 4,
			Drivers: map[string]protocol.Health{"lockboard": protocol.HealthOK, "scanner": protocol.HealthDegraded}})},
		{"inventory", reply(protocol.CmdInventory, protocol.InventoryResult{Compartments: []protocol.CompartmentInfo{
			{ID: 1, Label: "A1", Size: protocol.SizeS, Kind: "door", Parcels: []string{"p-1"}},
			{ID: 2, Label: "A2", Size: protocol.SizeM, Kind: "door", Disabled: true},
			{ID: 3, Size: protocol.SizeXL, Kind: "door", Fault: "jammed", Open: true},
		}})},
		{"audit", reply(protocol.CmdAuditRange, protocol.AuditRangeResult{Next: 4, Entries: []protocol.AuditEntry{
			{Seq: 1, ID: "a-1", Type: "announced", Time: t0, Parcel: "p-1"},
			{Seq: 2, ID: "a-2", Type: "deposited", Time: t0.Add(time.Minute), Parcel: "p-1", Compartment: 3, Actor: "c-7"},
			{Seq: 3, ID: "a-3", Type: "remote_open", Time: t0.Add(2 * time.Minute), Compartment: 3, Actor: "jane", Reason: "support"},
		}})},
		{"refused", &protocol.Reply{ID: "c-2", Typ: protocol.CmdOpenCompartment, Status: protocol.StatusRefused, Reason: protocol.ReasonNotFound, Time: t0}},
		{"announce-partial", partial},
		{"presence", protocol.Presence{State: protocol.Offline, Boot: "b-7", Version: "1.4.2", Time: t0, Reason: protocol.PresenceShutdown}},
		{"event", lockerEvent{"LK-0001", protocol.Event{ID: "e-1", Seq: 42, Type: protocol.EvPickedUp, Time: t0, Body: json.RawMessage(`{"parcel":"p-1","compartment":3}`)}}},
		{"fleet", fleetView{
			{Locker: "LK-0001", State: protocol.Online, Since: t0, Version: "1.4.2", Boot: "b-1", Health: &h, Outbox: &five, Alarms: []string{"scanner=degraded"}},
			{Locker: "LK-0002", State: protocol.Offline, Reason: protocol.PresenceShutdown, Since: t0, Version: "1.4.1", Boot: "b-2"},
			{Locker: "LK-0003", State: protocol.Offline, Reason: protocol.PresenceLost, Version: "1.4.2", Boot: "b-3"},
			{Locker: "LK-0004", State: protocol.Online, Since: t0, Version: "1.5.0", Boot: "b-4", Outbox: &zero, HealthFrom: healthFromPresence},
		}},
	}
}

// TestTables: each result's table, against testdata/*.golden (go test -update
// rewrites them; read the diff).
func TestTables(t *testing.T) {
	for _, tc := range tableCases() {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printTable(&b, tc.v); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b.Bytes(), []byte("\x1b")) {
				t.Errorf("an escape code in a table: %q", b.String())
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}

// TestJSONOutputIsTodays: in JSON mode every result is exactly one json.Marshal line,
// what lockerctl printed before tables existed, for every kind of result; the fleet
// is one line per locker.
func TestJSONOutputIsTodays(t *testing.T) {
	for _, tc := range tableCases() {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			e := &env{stdout: &b, output: outputJSON}
			if err := e.print(tc.v); err != nil {
				t.Fatal(err)
			}
			var want []byte
			if fv, ok := tc.v.(fleetView); ok {
				for _, r := range fv {
					line, _ := json.Marshal(r)
					want = append(append(want, line...), '\n')
				}
			} else {
				want, _ = json.Marshal(tc.v)
				want = append(want, '\n')
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("got %s\nwant %s", b.Bytes(), want)
			}
		})
	}
	// The event line is the one events printed before: the locker's id, then the event.
	old, _ := json.Marshal(struct {
		Locker string `json:"locker"`
		protocol.Event
	}{"L1", protocol.Event{ID: "e-1", Seq: 1, Type: protocol.EvHealth, Time: t0, Body: json.RawMessage(`{}`)}})
	now, _ := json.Marshal(lockerEvent{"L1", protocol.Event{ID: "e-1", Seq: 1, Type: protocol.EvHealth, Time: t0, Body: json.RawMessage(`{}`)}})
	if !bytes.Equal(old, now) {
		t.Errorf("event line changed: %s, was %s", now, old)
	}
}

func TestChooseOutput(t *testing.T) {
	for _, tc := range []struct {
		name             string
		json, table, tty bool
		want             outputMode
		wantErr          bool
	}{
		{"pipe", false, false, false, outputJSON, false},
		{"terminal", false, false, true, outputTable, false},
		{"--json on a terminal", true, false, true, outputJSON, false},
		{"--table into a pipe", false, true, false, outputTable, false},
		{"both", true, true, true, 0, true},
	} {
		got, err := chooseOutput(tc.json, tc.table, tc.tty)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: %v %v, want %v (error %v)", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}
