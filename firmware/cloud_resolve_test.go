package firmware_test

import (
	"context"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// TestCloudResolveUnverifiedDeposit: lockerd stops while a courier's door for a parcel
// the cloud never announced is unlocked and not yet opened; after the restart the
// compartment is out of service as unverified. An operator, told the parcel is inside,
// settles it over the cloud link with resolve-compartment: the compartment returns to
// service and the cloud gets a deposited event carrying the parcel's waybill digest,
// which is how it matches a parcel it never announced.
func TestCloudResolveUnverifiedDeposit(t *testing.T) {
	const badge, pin = "BADGE-RES-ABCDEFGHIJKLMNOPQRSTU", "24681357"
	const tracking = "RB987654326GB"
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "RES-01", person: lockboardtest.Jammed()})
	stop := w.runInProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	boot := w.online(ctx, t, "").Boot
	if _, err := w.cloud.EnrolOver(ctx, w.client, w.station.ID); err != nil {
		t.Fatal(err)
	}
	courier, err := w.cloud.WireCourier(w.station.ID, "c-1", badge, pin, protocol.RightDeposit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.client.Do(ctx, w.station.ID, courier); err != nil {
		t.Fatal(err)
	}
	cl := w.station.Client()
	sid, err := cl.Login(ctx, badge, pin)
	if err != nil {
		t.Fatal(err)
	}
	slot, err := cl.Scan(ctx, sid, tracking, "M") // unannounced: the courier gives the size
	if err != nil {
		t.Fatal(err)
	}

	stop() // before the door timeout: the door was pulsed and never seen open
	w.runInProcess(t)
	w.online(ctx, t, boot)
	id := uint16(slot.Compartment)
	w.inventoryHas(ctx, t, id, func(c protocol.CompartmentInfo) bool { return c.Fault == "unverified" })

	events := &eventLog{t: t, c: w.client}
	if _, err := w.client.Do(ctx, w.station.ID, &protocol.ResolveCompartmentBody{
		Compartment: id, Present: true, Operator: "op-1"}); err != nil {
		t.Fatal(err)
	}
	want, err := w.cloud.WireParcel(w.station.ID, sim.Parcel{ID: "any", Tracking: tracking, Size: "M"})
	if err != nil {
		t.Fatal(err)
	}
	ev := events.await(ctx, protocol.EvDeposited, func(e fleet.Event) bool {
		return e.Body.(*protocol.ParcelEvent).Parcel == string(slot.Parcel)
	})
	b := ev.Body.(*protocol.ParcelEvent)
	if b.Waybill == nil || *b.Waybill != want.Waybill || b.Actor != "op-1" {
		t.Fatalf("deposited event %+v: want the parcel's waybill digest and the operator", b)
	}
	w.inventoryHas(ctx, t, id, func(c protocol.CompartmentInfo) bool { return c.Fault == "" && len(c.Parcels) == 1 })
}
