package firmware_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// TestCloudCommands drives every command type at lockerd (in-process, real mosquitto,
// TLS client certificates, per-locker ACLs) through the fleet client and checks each
// reply, and the events the commands cause, in dense seq order.
func TestCloudCommands(t *testing.T) {
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "CMD-01", mqtt: func(m *config.MQTT) {
		m.RemoteOpen = config.RateLimit{Max: 2, Per: time.Hour}
	}})
	stop := w.runInProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	boot := w.online(ctx, t, "").Boot
	st, err := w.cloud.EnrolOver(ctx, w.client, w.station.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Boot != boot || st.Compartments != 8 || st.Drivers["bus0"] != protocol.HealthOK {
		t.Fatalf("status %+v", st)
	}
	events := &eventLog{t: t, c: w.client}
	if ev := events.next(ctx, 10*time.Second); ev.Seq != 1 || ev.Type != protocol.EvHealth {
		t.Fatalf("first event %d %s, want 1 health", ev.Seq, ev.Type)
	}

	p1, p2, p3 := w.cloud.NewParcel("S"), w.cloud.NewParcel("M"), w.cloud.NewParcel("S")
	wire := func(p sim.Parcel) protocol.AnnouncedParcel {
		a, err := w.cloud.WireParcel(w.station.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	clash := wire(p3)
	clash.Waybill = wire(p1).Waybill // the same waybill under another id
	courier, err := w.cloud.WireCourier(w.station.ID, "c-7", "BADGE-7-ABCDEFGHIJKLMNOPQRSTU", "4711", protocol.RightDeposit)
	if err != nil {
		t.Fatal(err)
	}
	policy := &protocol.PolicyBody{Version: 3, RetentionS: 86400, AnnouncedKeepS: 86400, PurgeAfterS: 3600,
		CodeEntry:        &protocol.CodeEntry{MinLength: 8, DelayS: 4, AlarmFailures: 50},
		CodeThrottle:     protocol.Throttle{MaxFailures: 5, BaseDelayS: 30, MaxDelayS: 600},
		CourierThrottle:  protocol.Throttle{MaxFailures: 5, BaseDelayS: 30, MaxDelayS: 600},
		DoorOpenTimeoutS: 6, LeftOpenAfterS: 90}
	open := &protocol.OpenCompartmentBody{Compartment: 3, Reason: protocol.OpenSupport, Operator: "op-1"}

	cases := []struct {
		name   string
		body   protocol.Body
		status protocol.Status
		reason protocol.Reason
		check  func(t *testing.T, r *protocol.Reply)
		event  protocol.EventType // an event the command causes, if any
	}{
		{name: "announce with a waybill clash", body: &protocol.AnnounceBody{Parcels: []protocol.AnnouncedParcel{wire(p1), wire(p2), clash}},
			status: protocol.StatusDone, reason: protocol.ReasonPartial, check: func(t *testing.T, r *protocol.Reply) {
				res, err := protocol.DecodeResult(protocol.CmdAnnounce, r.Body)
				items := res.(*protocol.AnnounceResult).Items
				if err != nil || len(items) != 1 || items[0].Parcel != p3.ID || items[0].Reason != protocol.ReasonConflict {
					t.Fatalf("items %+v %v", items, err)
				}
			}},
		{name: "set verifier", body: &protocol.SetVerifierBody{Parcel: p2.ID, CodeVerifier: wire(p1).CodeVerifier, QRVerifier: wire(p1).QRVerifier},
			status: protocol.StatusDone},
		{name: "set verifier of an unknown parcel", body: &protocol.SetVerifierBody{Parcel: "p-none", CodeVerifier: wire(p1).CodeVerifier},
			status: protocol.StatusRefused, reason: protocol.ReasonNotFound},
		{name: "a scheme-1 verifier without legacy_codes", body: &protocol.SetVerifierBody{Parcel: p2.ID, Verifier: wire(p1).CodeVerifier},
			status: protocol.StatusRefused, reason: protocol.ReasonNotSupported},
		{name: "cancel", body: &protocol.CancelBody{Parcel: p2.ID}, status: protocol.StatusDone, event: protocol.EvCancelled},
		{name: "recall of a parcel not deposited", body: &protocol.RecallBody{Parcel: p1.ID}, status: protocol.StatusRefused, reason: protocol.ReasonInvalidState},
		{name: "courier upsert", body: courier, status: protocol.StatusDone},
		{name: "courier revoke", body: &protocol.CourierRevokeBody{Courier: "c-7"}, status: protocol.StatusDone},
		{name: "open", body: open, status: protocol.StatusDone, event: protocol.EvDoorClosed},
		{name: "open an unknown compartment", body: &protocol.OpenCompartmentBody{Compartment: 99, Reason: protocol.OpenOther, Operator: "op-1"},
			status: protocol.StatusRefused, reason: protocol.ReasonNotFound},
		{name: "open again", body: open, status: protocol.StatusDone, event: protocol.EvDoorClosed},
		{name: "open over the rate limit", body: open, status: protocol.StatusRefused, reason: protocol.ReasonRateLimited},
		{name: "disable", body: &protocol.DisableCompartmentBody{Compartment: 5, Operator: "op-1"}, status: protocol.StatusDone,
			check: func(t *testing.T, _ *protocol.Reply) {
				w.inventoryHas(ctx, t, 5, func(c protocol.CompartmentInfo) bool { return c.Disabled })
			}},
		{name: "enable", body: &protocol.EnableCompartmentBody{Compartment: 5, Operator: "op-1"}, status: protocol.StatusDone,
			check: func(t *testing.T, _ *protocol.Reply) {
				w.inventoryHas(ctx, t, 5, func(c protocol.CompartmentInfo) bool { return !c.Disabled })
			}},
		{name: "resolve a compartment with nothing to resolve", body: &protocol.ResolveCompartmentBody{Compartment: 5, Present: true, Operator: "op-1"},
			status: protocol.StatusRefused, reason: protocol.ReasonInvalidState},
		{name: "policy", body: policy, status: protocol.StatusDone},
		{name: "clear the courier throttle", body: &protocol.ClearThrottleBody{Source: protocol.ThrottleCourier, Operator: "op-1"},
			status: protocol.StatusDone, event: protocol.EvThrottleCleared},
		{name: "stale policy", body: policy, status: protocol.StatusRefused, reason: protocol.ReasonStalePolicy},
		{name: "audit range", body: &protocol.AuditRangeBody{From: 1, Limit: 3}, status: protocol.StatusDone,
			check: func(t *testing.T, r *protocol.Reply) {
				res, err := protocol.DecodeResult(protocol.CmdAuditRange, r.Body)
				a := res.(*protocol.AuditRangeResult)
				if err != nil || len(a.Entries) != 3 || a.Entries[0].Seq != 1 || a.Next != 4 {
					t.Fatalf("audit %+v %v", a, err)
				}
			}},
		{name: "audit range shows reports", body: &protocol.AuditRangeBody{From: 1, Limit: 100}, status: protocol.StatusDone,
			check: func(t *testing.T, r *protocol.Reply) {
				res, err := protocol.DecodeResult(protocol.CmdAuditRange, r.Body)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range res.(*protocol.AuditRangeResult).Entries {
					if e.Type == string(protocol.EvHealth) && strings.Contains(e.Reason, `"uptime_s"`) {
						return
					}
				}
				t.Fatalf("no health entry with its report: %s", r.Body)
			}},
		{name: "ping", body: &protocol.PingBody{}, status: protocol.StatusDone, check: func(t *testing.T, r *protocol.Reply) {
			res, err := protocol.DecodeResult(protocol.CmdPing, r.Body)
			if err != nil || res.(*protocol.PingResult).Boot != boot {
				t.Fatalf("ping %+v %v", res, err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := w.client.NewCommand(w.station.ID, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			r, err := w.client.Send(ctx, cmd, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.status || r.Reason != tc.reason {
				t.Fatalf("reply %s/%s (%s), want %s/%s", r.Status, r.Reason, r.Detail, tc.status, tc.reason)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
			if tc.event != "" {
				ev := events.await(ctx, tc.event, nil)
				if cmdID(ev) != cmd.ID {
					t.Errorf("%s event names command %q, want %q", ev.Type, cmdID(ev), cmd.ID)
				}
			}
		})
	}
	// Each remote open: the pulse and what the door sensor saw, as separate facts. The
	// sensor may report the door open before the board acknowledged the unlock frame.
	var doors []string
	for _, ev := range events.events {
		if b, ok := ev.Body.(*protocol.DoorEvent); ok && b.Compartment == 3 {
			doors = append(doors, string(ev.Type)+"/"+string(b.Op))
			if b.Command == "" || b.Actor != "op-1" {
				t.Errorf("%s of a remote opening: command %q, actor %q; want both named", ev.Type, b.Command, b.Actor)
			}
		}
	}
	if len(doors) != 6 {
		t.Fatalf("door events %v", doors)
	}
	for i := 0; i < 6; i += 3 {
		pair := []string{doors[i], doors[i+1]}
		slices.Sort(pair)
		if got := fmt.Sprintf("%v %s", pair, doors[i+2]); got != "[door_opened/operator unlocked/operator] door_closed/operator" {
			t.Fatalf("door events %v", doors)
		}
	}
	if st := w.client.EventStats(); st.Gaps != 0 || st.Invalid != 0 {
		t.Fatalf("event stats %+v", st)
	}

	// A restart does not reset the remote-open rate limit: the audit log has the two
	// openings of the last hour.
	stop()
	w.runInProcess(t)
	w.online(ctx, t, boot)
	if r, err := w.client.Do(ctx, w.station.ID, open); r == nil || r.Status != protocol.StatusRefused || r.Reason != protocol.ReasonRateLimited {
		t.Fatalf("open after a restart: %+v %v, want refused rate_limited", r, err)
	}
}

// cmdID returns the command id a parcel or door event names.
func cmdID(ev fleet.Event) string {
	switch b := ev.Body.(type) {
	case *protocol.ParcelEvent:
		return b.Command
	case *protocol.DoorEvent:
		return b.Command
	case *protocol.ThrottleClearedEvent:
		return b.Command
	}
	return ""
}

// inventoryHas fails unless compartment id satisfies ok in lockerd's inventory.
func (w *cloudWorld) inventoryHas(ctx context.Context, t *testing.T, id uint16, ok func(protocol.CompartmentInfo) bool) {
	t.Helper()
	r, err := w.client.Do(ctx, w.station.ID, &protocol.InventoryBody{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := protocol.DecodeResult(protocol.CmdInventory, r.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.(*protocol.InventoryResult).Compartments {
		if c.ID == id {
			if !ok(c) {
				t.Fatalf("compartment %d: %+v", id, c)
			}
			return
		}
	}
	t.Fatalf("compartment %d not in the inventory", id)
}

// TestCloudHardwareEvents: when a driver stops working the cloud gets a hardware event,
// the next status shows it, and so does the retained presence's health summary.
func TestCloudHardwareEvents(t *testing.T) {
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "HW-01"})
	w.runInProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.online(ctx, t, "")
	events := &eventLog{t: t, c: w.client}
	if ev := events.next(ctx, 10*time.Second); ev.Type != protocol.EvHealth || ev.Body.(*protocol.HealthEvent).Drivers["bus0"] != protocol.HealthOK {
		t.Fatalf("first event %s %+v", ev.Type, ev.Body)
	}
	w.station.Boards.Close() // the RS-485 adapter is unplugged
	ev := events.await(ctx, protocol.EvHardware, nil)
	if b := ev.Body.(*protocol.HardwareEvent); b.Component != "bus0" || b.State != protocol.HealthFailed {
		t.Fatalf("hardware event %+v", b)
	}
	r, err := w.client.Do(ctx, w.station.ID, &protocol.StatusBody{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := protocol.DecodeResult(protocol.CmdStatus, r.Body)
	if err != nil || res.(*protocol.StatusResult).Drivers["bus0"] != protocol.HealthFailed {
		t.Fatalf("status %+v %v", res, err)
	}
	// The retained birth says so too, for lockerctl fleet without --listen (ADR 0068).
	if _, err := w.client.AwaitPresence(ctx, w.station.ID, func(p protocol.Presence) bool {
		return p.State == protocol.Online && p.Health != nil && slices.Contains(p.Health.Alarms, "bus0=failed")
	}); err != nil {
		t.Fatalf("the retained presence never carried the alarm: %v", err)
	}
}
