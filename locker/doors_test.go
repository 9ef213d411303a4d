package locker

import (
	"errors"
	"testing"
	"time"
)

func TestForcedOpenRaisesAlarm(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.door(4, true)
	if f.countEvents(EvForced) != 1 {
		t.Fatalf("events %v", f.eventTypes())
	}
	f.door(4, true) // a repeat of the same state is not a second opening
	if f.countEvents(EvForced) != 1 || f.countEvents(EvDoorOpened) != 1 {
		t.Fatalf("events %v", f.eventTypes())
	}
}

func TestDoorLeftOpenAlarmOncePerOpening(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1", "2468", Rights{Deposit: true})
	slot, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	if err != nil {
		t.Fatal(err)
	}
	f.door(slot.Compartment, true)
	limit := f.st.Policy().LeftOpenAfter
	f.tick(limit / 2)
	if f.countEvents(EvLeftOpen) != 0 {
		t.Fatal("alarm too early")
	}
	f.tick(limit)
	f.tick(limit)
	if f.countEvents(EvLeftOpen) != 1 {
		t.Fatalf("left-open alarms: %d", f.countEvents(EvLeftOpen))
	}
	if e := f.lastEvent(EvLeftOpen); e.Op != OpDeposit || e.Seconds < int64(limit/time.Second) {
		t.Fatalf("left-open event %+v: want op deposit, open for at least %v", e, limit)
	}
	f.door(slot.Compartment, false)
	if p := f.parcel("p-1"); p.State != StateDeposited {
		t.Fatal(p.State)
	}
}

func TestDuplicateCloseEvents(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1", "2468", Rights{Deposit: true})
	c := f.deposit(sid, "RB123456785GB")
	seq := f.st.seq
	f.door(c, false)
	f.door(c, false)
	if f.st.seq != seq {
		t.Fatalf("duplicate closes wrote %d events", f.st.seq-seq)
	}
	if _, err := f.st.EnterCode(ctx, "48213377"); err != nil {
		t.Fatal(err)
	}
	f.door(c, true)
	f.door(c, false)
	f.door(c, false)
	f.door(c, true) // reopened after pickup: nobody commanded this
	if f.countEvents(EvPickedUp) != 1 || f.countEvents(EvForced) != 1 {
		t.Fatalf("events %v", f.eventTypes())
	}
}

func TestUnlockFailureUndoesReservation(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1", "2468", Rights{Deposit: true})
	f.hw.fail[1] = errors.New("bus timeout")
	_, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	wantErr(t, err, ErrUnlock)
	if p := f.parcel("p-1"); p.State != StateAnnounced || p.Compartment != 0 {
		t.Fatalf("%+v", p)
	}
	if c := f.comp(1); c.Op != OpNone || len(c.Parcels) != 0 {
		t.Fatalf("%+v", c)
	}
	delete(f.hw.fail, 1)
	f.clock.Advance(2 * time.Second)
	if _, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown); err != nil {
		t.Fatal(err)
	}
}

func TestJammedPickupKeepsParcelAndCode(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1", "2468", Rights{Deposit: true})
	c := f.deposit(sid, "RB123456785GB")
	if _, err := f.st.EnterCode(ctx, "48213377"); err != nil {
		t.Fatal(err)
	}
	f.tick(f.st.Policy().DoorOpenTimeout + time.Second)
	if p := f.parcel("p-1"); p.State != StateDeposited {
		t.Fatal(p.State)
	}
	if cc := f.comp(c); cc.Fault != "jammed" {
		t.Fatalf("%+v", cc)
	}
	res, err := f.st.EnterCode(ctx, "48213377")
	if err != nil || len(res.Failed) != 1 || len(res.Slots) != 0 {
		t.Fatalf("a faulted door is reported, not pulsed: %+v %v", res, err)
	}
	if err := f.st.OpenCompartment(ctx, c, "op-7", "service visit"); err == nil {
		t.Log("operator open on a faulted door is allowed: the technician is there")
	}
}

func TestStaleGenerationCannotAct(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1", "2468", Rights{Deposit: true})
	c := f.deposit(sid, "RB123456785GB")
	if _, err := f.st.EnterCode(ctx, "48213377"); err != nil {
		t.Fatal(err)
	}
	f.openClose(c) // picked up: the compartment moved on
	wantErr(t, f.st.Cancel(ctx, sid), ErrNoPending)
	if cc := f.comp(c); cc.Op != OpNone || len(cc.Parcels) != 0 {
		t.Fatalf("%+v", cc)
	}
}
