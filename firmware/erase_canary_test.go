package firmware_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/internal/canary"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/subject"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// An erasure test (issue 17, docs/adr/0065-audit-actors-as-pseudonyms.md): a courier
// deposits, an operator opens a door, a recipient picks up, all through a real
// lockerd and a real Mosquitto; the cloud then erases the courier and the operator
// with erase-subject. Afterwards:
//
//   - the audit chain still verifies (`lockerd audit`'s check);
//   - no key left on the device links either id to any audit entry, while a copy of
//     the keyring taken before the erasure does (the control that shows the check
//     can see a link at all);
//   - the canary harness finds neither id in the state directory or lockerd's log.
//
// The ids do cross the broker: the cloud names them in its commands and lockerd in
// its events (docs/privacy.md §9), so the MQTT traffic is not a surface here.
func TestErasedSubjectsCannotBeLinked(t *testing.T) {
	const (
		courierID  = "courier-CANARY-Q7Z3-PK"
		operatorID = "op-CANARY-W5K9-RT"
	)
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "ERASE-1", logLevel: "info"})
	d := newDaemon(t, w.station)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := d.start(ctx); err != nil {
		t.Fatal(err)
	}
	w.online(ctx, t, "")
	if _, err := w.cloud.EnrolOver(ctx, w.client, w.station.ID); err != nil {
		t.Fatal(err)
	}
	badge, pin := privacy.NewBadgeToken(), "52917346"
	upsert, err := w.cloud.WireCourier(w.station.ID, courierID, badge, pin, protocol.RightDeposit)
	if err != nil {
		t.Fatal(err)
	}
	do := func(body protocol.Body) *protocol.Reply {
		t.Helper()
		r, err := w.client.Do(ctx, w.station.ID, body)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != protocol.StatusDone {
			t.Fatalf("%s: %s/%s %s", body.Type(), r.Status, r.Reason, r.Detail)
		}
		return r
	}
	do(upsert)
	p := w.cloud.NewParcel("S")
	if err := w.cloud.AnnounceOver(ctx, w.client, w.station.ID, []sim.Parcel{p}); err != nil {
		t.Fatal(err)
	}
	cl := newAPITap(t, w.station).client(t)
	sid, err := cl.Login(ctx, badge, pin)
	if err != nil {
		t.Fatal(err)
	}
	seq := w.station.Boards.LastSeq()
	slot, err := cl.Scan(ctx, sid, p.Tracking, "S")
	if err != nil {
		t.Fatalf("deposit: %v", err)
	}
	waitDoorsShut(ctx, t, w.station, &seq)
	if err := waitIdle(ctx, cl); err != nil {
		t.Fatal(err)
	}
	do(&protocol.OpenCompartmentBody{Compartment: uint16(slot.Compartment), Reason: protocol.OpenInspection, Operator: operatorID})
	waitDoorsShut(ctx, t, w.station, &seq)
	if err := waitIdle(ctx, cl); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PickupCode(ctx, p.Code, p.Phone); err != nil {
		t.Fatalf("pickup: %v", err)
	}
	waitDoorsShut(ctx, t, w.station, &seq)
	if err := waitIdle(ctx, cl); err != nil {
		t.Fatal(err)
	}
	drained(ctx, t, w)

	// The keyring as it was before the erasure: the control of the link check.
	before := t.TempDir()
	if err := os.Chmod(before, 0o700); err != nil {
		t.Fatal(err)
	}
	keyring, err := os.ReadFile(filepath.Join(w.station.Config.StateDir, privacy.KeyringFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(before, privacy.KeyringFile), keyring, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, id := range []string{courierID, operatorID} {
		r := do(&protocol.EraseSubjectBody{Subject: id, Operator: "op-dpo-1"})
		res, err := protocol.DecodeResult(protocol.CmdEraseSubject, r.Body)
		if err != nil || res.(*protocol.EraseSubjectResult).Keys < 1 {
			t.Fatalf("erase %s: %+v %v (want at least one key destroyed)", id, res, err)
		}
	}
	r := do(&protocol.EraseSubjectBody{Subject: courierID, Operator: "op-dpo-1"})
	if res, err := protocol.DecodeResult(protocol.CmdEraseSubject, r.Body); err != nil || res.(*protocol.EraseSubjectResult).Keys != 0 {
		t.Fatalf("a second erasure: %+v %v (want nothing left to destroy)", res, err)
	}
	drained(ctx, t, w)
	d.stop()

	if n, err := firmware.VerifyAudit(w.station.Config); err != nil || n == 0 {
		t.Fatalf("the audit chain after the erasure: %d entries, %v", n, err)
	}
	evs := storedEvents(t, w.station)
	erasures := 0
	for _, e := range evs {
		if e.Type == model.EvSubjectErased {
			erasures++
		}
	}
	if erasures != 3 {
		t.Fatalf("%d subject_erased entries, want 3", erasures)
	}
	linked := func(dir string) map[string]int {
		kr, err := privacy.OpenKeyring(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer kr.Close()
		found := map[string]int{}
		for _, e := range kr.Epochs() {
			k, _ := kr.Lookup(e)
			for _, id := range []string{courierID, operatorID} {
				ps := subject.Of(k, id)
				for _, ev := range evs {
					if ev.Actor == ps || strings.Contains(ev.Reason, ps) {
						found[id]++
					}
				}
			}
		}
		return found
	}
	if was := linked(before); was[courierID] == 0 || was[operatorID] == 0 {
		t.Fatalf("before the erasure the keys linked %v: the check sees no link at all", was)
	}
	if now := linked(w.station.Config.StateDir); len(now) != 0 {
		t.Fatalf("after the erasure the device's keys still link %v", now)
	}

	h, err := canary.New(map[string]string{"courier id": courierID, "operator id": operatorID})
	if err != nil {
		t.Fatal(err)
	}
	register(t, h, stateSurface(w.station), logSurface(d.logPath, ""))
	h.Check(t)
}
