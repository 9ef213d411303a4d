package locker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/privacy"
)

var ctx = context.Background()

func TestDepositAndPickupEndToEnd(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeM)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})

	slot, err := f.st.Scan(ctx, sid, " rb123456785gb\r\n", SizeUnknown)
	if err != nil {
		t.Fatal(err)
	}
	if slot.Compartment != 3 { // the first M: smallest that fits, lowest id
		t.Fatalf("offered compartment %d, want 3", slot.Compartment)
	}
	if got := f.hw.unlocked(); !slices.Equal(got, []CompartmentID{3}) {
		t.Fatalf("unlocks = %v", got)
	}
	if p := f.parcel("p-1"); p.State != StateAnnounced || p.Compartment != 3 {
		t.Fatalf("before the door closes: %+v", p)
	}
	f.openClose(3)
	if p := f.parcel("p-1"); p.State != StateDeposited || p.Courier != "c-1" {
		t.Fatalf("after the door closed: state %s courier %q", p.State, p.Courier)
	}

	res, err := f.st.EnterCode(ctx, " 48213377 ", testPhone)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Slots) != 1 || res.Slots[0].Compartment != 3 {
		t.Fatalf("pickup opened %+v", res)
	}
	f.openClose(3)
	if p := f.parcel("p-1"); p.State != StatePickedUp {
		t.Fatalf("after pickup: %s", p.State)
	}
	if c := f.comp(3); len(c.Parcels) != 0 || !c.Usable() {
		t.Fatalf("compartment not freed: %+v", c)
	}
	// Single use: the code is spent.
	_, err = f.st.EnterCode(ctx, "48213377", testPhone)
	wantErr(t, err, ErrWrongCode)

	want := []EventType{EvReserved, EvUnlocked, EvDoorOpened, EvDoorClosed, EvDeposited,
		EvReserved, EvUnlocked, EvDoorOpened, EvDoorClosed, EvPickedUp}
	var got []EventType
	for _, e := range f.eventTypes() {
		if slices.Contains(want, e) {
			got = append(got, e)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	if n, err := f.st.VerifyAudit(); err != nil || n != len(f.events) {
		t.Fatalf("audit: %d entries, %v; %d events", n, err, len(f.events))
	}
}

func TestScanRefusals(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	before := f.st.store.Seq()
	cases := []struct {
		name string
		raw  string
	}{
		{"empty", ""},
		{"blank", "   \r\n"},
		{"10 kB", strings.Repeat("7", 10_000)},
		{"binary", "\x00\x01\xff\xfe\x1b[2J"},
		{"S10 wrong check digit", "RB123456784GB"},
		{"too short", "12345"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.st.Scan(ctx, sid, tc.raw, SizeS)
			if err == nil || !strings.HasPrefix(err.Error(), "locker: scan refused: waybill:") {
				t.Fatalf("error = %v, want a waybill refusal", err)
			}
			if len(tc.raw) > 3 && strings.Contains(err.Error(), tc.raw) {
				t.Fatalf("error echoes the input: %v", err)
			}
		})
	}
	if f.st.store.Seq() != before || len(f.hw.unlocked()) != 0 {
		t.Fatalf("bad scans changed state: seq %d -> %d, unlocks %v", before, f.st.store.Seq(), f.hw.unlocked())
	}
}

func TestCourierMustBeLoggedIn(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	_, err := f.st.Scan(ctx, "no-such-session", "RB123456785GB", SizeUnknown)
	wantErr(t, err, ErrNotLoggedIn)
	_, err = f.st.Login(ctx, "BADGE-X-ABCDEFGHIJKLMNOPQR", "0000")
	wantErr(t, err, ErrBadCredentials)

	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Retrieve: true})
	_, err = f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	wantErr(t, err, ErrNoRights)

	sid = f.courier("c-2", "BADGE-2-ABCDEFGHIJKLMNOPQR", "1357", Rights{Deposit: true})
	f.clock.Advance(f.st.Policy().SessionIdle + time.Second)
	_, err = f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	wantErr(t, err, ErrNotLoggedIn)
	if len(f.hw.unlocked()) != 0 {
		t.Fatalf("unlocked %v", f.hw.unlocked())
	}
}

func TestUnannouncedParcelNeedsSize(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	_, err := f.st.Scan(ctx, sid, "773012345678901", SizeUnknown)
	wantErr(t, err, ErrSizeRequired)
	f.clock.Advance(2 * time.Second)
	slot, err := f.st.Scan(ctx, sid, "773012345678901", SizeL)
	if err != nil {
		t.Fatal(err)
	}
	if slot.Compartment != 5 || !strings.HasPrefix(string(slot.Parcel), "u-") {
		t.Fatalf("slot %+v", slot)
	}
	if e := f.lastEvent(EvReserved); e.Waybill != nil {
		t.Fatalf("the reservation, which the cloud is not sent, carries a waybill digest: %+v", e)
	}
	f.openClose(5)
	if p := f.parcel(slot.Parcel); p.State != StateDeposited || p.Announced {
		t.Fatalf("%+v", p)
	}
	checkDepositedWaybill(t, f, f.cloud.Waybill("773012345678901"))
}

// checkDepositedWaybill checks that the last deposited event carries the cloud-side
// waybill digest of an unannounced parcel, that the outbox hands it to the cloud, and
// that the audit log, which is kept for a year, does not keep it.
func checkDepositedWaybill(t *testing.T, f *fixture, want privacy.Digest) {
	t.Helper()
	dep := f.lastEvent(EvDeposited)
	if dep.Waybill == nil || *dep.Waybill != want {
		t.Fatalf("deposited event of an unannounced parcel must carry its cloud-side digest: %+v", dep)
	}
	logged, err := f.st.AuditRange(dep.Seq, dep.Seq, 1)
	if err != nil || len(logged) != 1 || logged[0].Type != EvDeposited || logged[0].Waybill != nil {
		t.Fatalf("the audit log keeps no waybill digest: %+v %v", logged, err)
	}
	sent, err := f.st.outboxPending(dep.Seq-1, 1)
	if err != nil || len(sent) != 1 || sent[0].Waybill == nil || *sent[0].Waybill != want {
		t.Fatalf("the outbox carries it to the cloud: %+v %v", sent, err)
	}
}

// TestUnannouncedDepositResolvedAfterRestart: the digest survives a restart that left
// the deposit unverified, sealed in the compartment, and reaches the cloud when an
// operator finds the parcel there.
func TestUnannouncedDepositResolvedAfterRestart(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	slot, err := f.st.Scan(ctx, sid, "773012345678901", SizeL)
	if err != nil {
		t.Fatal(err)
	}
	f.restart() // power cut before the door was seen open: unverified
	if c := f.comp(slot.Compartment); c.Fault != FaultUnverified || len(c.UnverifiedWaybill) == 0 {
		t.Fatalf("after the restart: %+v", c)
	}
	if err := f.st.Resolve(ctx, slot.Compartment, true, "op-1", "test"); err != nil {
		t.Fatal(err)
	}
	checkDepositedWaybill(t, f, f.cloud.Waybill("773012345678901"))
	if c := f.comp(slot.Compartment); len(c.UnverifiedWaybill) != 0 {
		t.Fatalf("the sealed digest outlived the resolution: %+v", c)
	}
}

func TestBestFitFallsBackToLarger(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	var got []CompartmentID
	for i, tn := range []string{"100000000001", "100000000002", "100000000003", "100000000004", "100000000005", "100000000006"} {
		slot, err := f.st.Scan(ctx, sid, tn, SizeS)
		if err != nil {
			t.Fatalf("parcel %d: %v", i, err)
		}
		f.openClose(slot.Compartment)
		got = append(got, slot.Compartment)
	}
	if !slices.Equal(got, []CompartmentID{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("placement order %v", got)
	}
	_, err := f.st.Scan(ctx, sid, "100000000007", SizeS)
	wantErr(t, err, ErrNoFreeCompartment)
	if _, err := f.st.ParcelInfo("u-"); err == nil {
		t.Fatal("unexpected parcel")
	}
	st, _ := f.st.Status()
	if st.Parcels[StateDeposited] != 6 || st.Parcels[StateAnnounced] != 0 {
		t.Fatalf("a refused unannounced parcel must not be stored: %+v", st.Parcels)
	}
}

func TestNoCompartmentBigEnough(t *testing.T) {
	f := newFixture(t, []CompartmentSpec{{ID: 1, Size: SizeS, Kind: KindDoor}, {ID: 2, Size: SizeM, Kind: KindDoor}})
	f.announce("big", "RB123456785GB", "11223344", SizeXL)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	_, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	wantErr(t, err, ErrNoFreeCompartment)
	if p := f.parcel("big"); p.State != StateAnnounced || p.Compartment != 0 {
		t.Fatalf("%+v", p)
	}
}

func TestSameScanTwiceWithinWindow(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	if _, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	_, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	wantErr(t, err, ErrDuplicateScan)
	f.clock.Advance(time.Second)
	_, err = f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	wantErr(t, err, ErrBusy) // outside the window it is seen, but its deposit is under way
	if n := len(f.hw.unlocked()); n != 1 {
		t.Fatalf("%d unlocks, want 1", n)
	}
	f.openClose(1)
	f.clock.Advance(2 * time.Second)
	_, err = f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	wantErr(t, err, ErrAlreadyHere)
}

func TestJammedDoorIsFaultedAndNextOffered(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	slot, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	if err != nil || slot.Compartment != 1 {
		t.Fatalf("%+v %v", slot, err)
	}
	f.tick(f.st.Policy().DoorOpenTimeout + time.Second) // door 1 never opens
	if c := f.comp(1); c.Fault != "jammed" || len(c.Parcels) != 0 || c.Op != OpNone {
		t.Fatalf("jammed compartment: %+v", c)
	}
	offers, _ := f.st.Offers(sid)
	if len(offers) != 2 || offers[1].Compartment != 2 {
		t.Fatalf("offers %+v", offers)
	}
	if got := f.hw.unlocked(); !slices.Equal(got, []CompartmentID{1, 2}) {
		t.Fatalf("unlocks %v", got)
	}
	if f.countEvents(EvJammed) != 1 {
		t.Fatalf("events %v", f.eventTypes())
	}
	f.openClose(2)
	if p := f.parcel("p-1"); p.State != StateDeposited || p.Compartment != 2 {
		t.Fatalf("%+v", p)
	}
	// A jammed compartment is offered no more until an operator enables it again.
	if err := f.st.SetEnabled(ctx, 1, true, "lock replaced"); err != nil {
		t.Fatal(err)
	}
	if c := f.comp(1); !c.Usable() {
		t.Fatalf("%+v", c)
	}
}

func TestCancelDeposit(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})

	// Cancel while the door is open: closing it frees the compartment.
	if _, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown); err != nil {
		t.Fatal(err)
	}
	f.door(1, true)
	if err := f.st.Cancel(ctx, sid); err != nil {
		t.Fatal(err)
	}
	f.door(1, false)
	if p := f.parcel("p-1"); p.State != StateAnnounced || p.Compartment != 0 {
		t.Fatalf("%+v", p)
	}
	// Cancel after the deposit was confirmed: the door reopens.
	f.clock.Advance(2 * time.Second)
	if _, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown); err != nil {
		t.Fatal(err)
	}
	f.openClose(1)
	if err := f.st.Cancel(ctx, sid); err != nil {
		t.Fatal(err)
	}
	if got := f.hw.unlocked(); !slices.Equal(got, []CompartmentID{1, 1, 1}) {
		t.Fatalf("unlocks %v", got)
	}
	f.openClose(1)
	if p := f.parcel("p-1"); p.State != StateAnnounced || p.Compartment != 0 {
		t.Fatalf("%+v", p)
	}
	if c := f.comp(1); !c.Usable() {
		t.Fatalf("%+v", c)
	}
	wantErr(t, f.st.Cancel(ctx, sid), ErrNoPending)
}

// TestUnverifiedDepositSurvivesALookAndIsSettledOnlyByResolve: after a restart leaves
// an unannounced deposit unverified, an operator's remote opening to look inside keeps
// the digest; enabling the compartment does not bypass the resolution; inventories
// never show the sealed digest; resolving names the operator in the audit log.
func TestUnverifiedDepositSurvivesALookAndIsSettledOnlyByResolve(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	slot, err := f.st.Scan(ctx, sid, "773012345678901", SizeL)
	if err != nil {
		t.Fatal(err)
	}
	f.restart()
	if err := f.st.OpenCompartment(ctx, slot.Compartment, "op-1", "inspection"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Resolve(ctx, slot.Compartment, true, "op-1", "test"); err == nil {
		t.Fatal("resolved while the operator's opening is under way")
	}
	f.openClose(slot.Compartment)
	wantErr(t, f.st.SetEnabled(ctx, slot.Compartment, true, "operator op-1"), ErrState)
	views, err := f.st.Inventory()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if len(v.OpWaybill) != 0 || len(v.UnverifiedWaybill) != 0 {
			t.Fatalf("inventory shows a sealed digest: %+v", v.Compartment)
		}
	}
	if err := f.st.Resolve(ctx, slot.Compartment, true, "op-1", CommandReason("operator op-1", "cmd-9")); err != nil {
		t.Fatal(err)
	}
	checkDepositedWaybill(t, f, f.cloud.Waybill("773012345678901"))
	if e := f.lastEvent(EvResolved); e.Actor != "op-1" || e.CommandID() != "cmd-9" || e.Compartment != slot.Compartment {
		t.Fatalf("resolution not audited with its operator and command: %+v", e)
	}
}

// TestScanRetryAfterRefusal: a scan refused (size needed) is not a deposit, so the
// duplicate-scan window does not swallow the courier's retry with the size.
func TestScanRetryAfterRefusal(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	_, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	wantErr(t, err, ErrSizeRequired)
	f.clock.Advance(500 * time.Millisecond)
	slot, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeS)
	if err != nil || slot.Compartment == 0 {
		t.Fatalf("retry with the size: %+v, %v", slot, err)
	}
	f.clock.Advance(500 * time.Millisecond)
	_, err = f.st.Scan(ctx, sid, "RB123456785GB", SizeS)
	wantErr(t, err, ErrDuplicateScan) // a double read of an accepted scan still is one
}

// TestOpenDoorIsNotOffered: a door standing open with no operation (forced, or
// released by an unlock that reported an error) is not offered for a deposit, whose
// opening it could never see; a pickup from such a door completes when it closes.
func TestOpenDoorIsNotOffered(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	f.door(1, true)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	slot, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	if err != nil {
		t.Fatal(err)
	}
	if slot.Compartment == 1 {
		t.Fatal("offered compartment 1, whose door stands open")
	}
	f.door(1, false)
	f.clock.Advance(time.Second)
	f.door(slot.Compartment, true)
	f.door(slot.Compartment, false)
	if p := f.parcel("p-1"); p.State != StateDeposited || p.Compartment != slot.Compartment {
		t.Fatalf("deposit: %s in %d, want deposited in %d", p.State, p.Compartment, slot.Compartment)
	}

	f.door(slot.Compartment, true) // left ajar by someone: no operation under way
	if _, err := f.st.EnterCode(ctx, "48213377", testPhone); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(3 * time.Second)
	f.door(slot.Compartment, false)
	f.tick(5 * time.Second)
	if p, c := f.parcel("p-1"), f.comp(slot.Compartment); p.State != StatePickedUp || c.Fault != "" {
		t.Fatalf("pickup from an open door: parcel %s, fault %q; want picked up, no fault", p.State, c.Fault)
	}
}

// TestStaleOfferCannotCancelAnotherDeposit: a deposit whose door could not be unlocked
// leaves its offer in the courier's session; once the compartment has been released
// and reserved again for another courier's parcel, that stale offer must not cancel
// the deposit now inside. Kills the mutant that makes releaseParcel's Generation++ a
// Generation-- (deposit.go:313): the generation would come back to the stale offer's.
func TestStaleOfferCannotCancelAnotherDeposit(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	f.announce("p-2", "RA000000005DE", "11223344", SizeS)
	a := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	b := f.courier("c-2", "BADGE-2-ABCDEFGHIJKLMNOPQR", "1357", Rights{Deposit: true})

	f.hw.fail[1] = errors.New("board not answering")
	slot, err := f.st.Scan(ctx, a, "RB123456785GB", SizeUnknown)
	wantErr(t, err, ErrUnlock)
	if slot.Compartment != 1 {
		t.Fatalf("first deposit offered %+v, want compartment 1", slot)
	}
	delete(f.hw.fail, 1)
	if c := f.comp(1); !c.Usable() {
		t.Fatalf("after the failed unlock compartment 1 is %+v; want it free", c)
	}

	if got := f.deposit(b, "RA000000005DE"); got != 1 {
		t.Fatalf("second courier's parcel went to %d, want 1", got)
	}
	unlocks := len(f.hw.unlocked())
	wantErr(t, f.st.Cancel(ctx, a), ErrNoPending)
	if got := len(f.hw.unlocked()); got != unlocks {
		t.Fatalf("the stale cancel unlocked a door (%d unlocks, was %d)", got, unlocks)
	}
	if p := f.parcel("p-2"); p.State != StateDeposited || p.Compartment != 1 {
		t.Fatalf("the other courier's parcel: %+v", p)
	}
}

// TestCancelRecordsDepositAborted: a deposit cancelled before its door opened is
// recorded as aborted, once, naming the parcel, compartment, generation and courier.
// Kills the mutant that negates releaseParcel's putParcel error check
// (deposit.go:321, err != nil to err == nil), which returns before the event.
func TestCancelRecordsDepositAborted(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	slot, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.Cancel(ctx, sid); err != nil {
		t.Fatal(err)
	}
	if n := f.countEvents(EvDepositAborted); n != 1 {
		t.Fatalf("%d deposit-aborted events, want 1: %v", n, f.eventTypes())
	}
	e := f.lastEvent(EvDepositAborted)
	if e.Parcel != "p-1" || e.Compartment != slot.Compartment || e.Generation != slot.Generation+1 ||
		e.Actor != "c-1" || e.Reason != "cancelled by courier" {
		t.Fatalf("deposit-aborted event %+v", e)
	}
}
