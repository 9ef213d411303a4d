package firmware_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// TestCloudJtiReuse: through mosquitto, a command id reused for another command is
// refused conflict and nothing runs, on both of lockerd's paths (a command recorded in
// one transition, a ping; a command begun before it acts, a cancel); the same command
// signed again (another iat) is answered with its stored reply
// (docs/adr/0055-command-ordering-and-jti-reuse.md).
func TestCloudJtiReuse(t *testing.T) {
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "JTI-01"})
	stop := w.runInProcess(t)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.online(ctx, t, "")
	send := func(id string, body protocol.Body, iat time.Time) *protocol.Reply {
		t.Helper()
		cmd, err := w.client.NewCommandAt(w.station.ID, id, body, iat, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		r, err := w.client.Send(ctx, cmd, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	now := time.Now()
	steps := []struct {
		name   string
		id     string
		body   protocol.Body
		iat    time.Time
		status protocol.Status
		reason protocol.Reason
	}{
		{"ping", "jti-a", &protocol.PingBody{}, now, protocol.StatusDone, ""},
		{"ping again, signed again", "jti-a", &protocol.PingBody{}, now.Add(-time.Second), protocol.StatusDone, ""},
		{"inventory under the ping's id", "jti-a", &protocol.InventoryBody{}, now, protocol.StatusRefused, protocol.ReasonConflict},
		{"cancel of an unknown parcel", "jti-b", &protocol.CancelBody{Parcel: "p-none"}, now, protocol.StatusRefused, protocol.ReasonNotFound},
		{"the same cancel signed again", "jti-b", &protocol.CancelBody{Parcel: "p-none"}, now.Add(-time.Second), protocol.StatusRefused, protocol.ReasonNotFound},
		{"another cancel under its id", "jti-b", &protocol.CancelBody{Parcel: "p-other"}, now, protocol.StatusRefused, protocol.ReasonConflict},
		{"a ping under the cancel's id", "jti-b", &protocol.PingBody{}, now, protocol.StatusRefused, protocol.ReasonConflict},
	}
	for _, s := range steps {
		r := send(s.id, s.body, s.iat)
		if r.Status != s.status || r.Reason != s.reason || r.ID != s.id {
			t.Fatalf("%s: got %s/%s (%s), want %s/%s", s.name, r.Status, r.Reason, r.Detail, s.status, s.reason)
		}
	}
	// The conflicts changed nothing: the ping's id still answers the ping's reply.
	if r := send("jti-a", &protocol.PingBody{}, now); r.Status != protocol.StatusDone || r.Body == nil {
		t.Fatalf("the ping's id after the conflict: %+v", r)
	}
}

// TestCloudReordering: through mosquitto, the three reorderings of issue 13: an older
// set-verifier, an older re-announce and an older courier-upsert, each delivered after
// a newer command for the same parcel or courier, are refused stale with the newer
// command's iat as the current revision, and change nothing: the audit log holds the
// newer commands' events only (docs/adr/0055-command-ordering-and-jti-reuse.md).
func TestCloudReordering(t *testing.T) {
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "ORD-01"})
	stop := w.runInProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.online(ctx, t, "")
	if _, err := w.cloud.EnrolOver(ctx, w.client, w.station.ID); err != nil {
		t.Fatal(err)
	}
	n := 0
	send := func(body protocol.Body, iat time.Time) *protocol.Reply {
		t.Helper()
		n++
		cmd, err := w.client.NewCommandAt(w.station.ID, fmt.Sprintf("ord-%d", n), body, iat, 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		r, err := w.client.Send(ctx, cmd, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	wire := func(p sim.Parcel) protocol.AnnouncedParcel {
		a, err := w.cloud.WireParcel(w.station.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	now := time.Now().Truncate(time.Second)
	older, newer := now.Add(-10*time.Minute), now.Add(-time.Minute)
	wantStale := func(what string, r *protocol.Reply, rev time.Time) {
		t.Helper()
		if r.Status != protocol.StatusRefused || r.Reason != protocol.ReasonStale || !strings.Contains(r.Detail, fmt.Sprintf("revision %d", rev.Unix())) {
			t.Fatalf("%s: got %s/%s (%s), want refused/stale with revision %d", what, r.Status, r.Reason, r.Detail, rev.Unix())
		}
	}

	// An older set-verifier after a newer one.
	p1, code1, code2 := w.cloud.NewParcel("S"), w.cloud.NewParcel("S"), w.cloud.NewParcel("S")
	if r := send(&protocol.AnnounceBody{Parcels: []protocol.AnnouncedParcel{wire(p1)}}, now.Add(-time.Hour)); r.Status != protocol.StatusDone {
		t.Fatalf("announce: %+v", r)
	}
	setCode := func(c sim.Parcel) *protocol.SetVerifierBody {
		return &protocol.SetVerifierBody{Parcel: p1.ID, CodeVerifier: wire(c).CodeVerifier, QRVerifier: wire(c).QRVerifier}
	}
	if r := send(setCode(code2), newer); r.Status != protocol.StatusDone {
		t.Fatalf("the newer set-verifier: %+v", r)
	}
	wantStale("the older set-verifier", send(setCode(code1), older), newer)

	// An older re-announce, with the parcel's old code, after the newer set-verifier.
	r := send(&protocol.AnnounceBody{Parcels: []protocol.AnnouncedParcel{wire(p1)}}, older)
	if r.Status != protocol.StatusRefused || r.Reason != protocol.ReasonPartial {
		t.Fatalf("the older re-announce: %+v", r)
	}
	res, err := protocol.DecodeResult(protocol.CmdAnnounce, r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if items := res.(*protocol.AnnounceResult).Items; len(items) != 1 || items[0].Reason != protocol.ReasonStale || items[0].Revision != newer.Unix() {
		t.Fatalf("the older re-announce's items: %+v", items)
	}
	// A newer one still applies.
	if r := send(&protocol.AnnounceBody{Parcels: []protocol.AnnouncedParcel{wire(p1)}}, now); r.Status != protocol.StatusDone {
		t.Fatalf("a newer re-announce: %+v", r)
	}

	// An older courier-upsert after a newer revoke: the courier stays revoked.
	courier, err := w.cloud.WireCourier(w.station.ID, "c-9", "BADGE-9-ABCDEFGHIJKLMNOPQRSTU", "4711", protocol.RightDeposit)
	if err != nil {
		t.Fatal(err)
	}
	if r := send(&protocol.CourierRevokeBody{Courier: "c-9"}, newer); r.Status != protocol.StatusDone {
		t.Fatalf("the newer revoke: %+v", r)
	}
	wantStale("the older upsert", send(courier, older), newer)

	stop()
	count := map[locker.EventType]int{}
	for _, e := range storedEvents(t, w.station) {
		count[e.Type]++
	}
	if count[locker.EvVerifierSet] != 1 || count[locker.EvCourierUpserted] != 0 || count[locker.EvCourierRevoked] != 1 || count[locker.EvAnnounced] != 2 {
		t.Fatalf("the audit log holds %v, want 1 verifier_set, 0 courier_upserted, 1 courier_revoked, 2 announced", count)
	}
}
