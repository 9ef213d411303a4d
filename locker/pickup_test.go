package locker

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// deposit puts an announced parcel in through a courier session and returns its compartment.
func (f *fixture) deposit(sid string, tracking string) CompartmentID {
	f.t.Helper()
	f.clock.Advance(2 * time.Second) // out of the repeat-scan window
	slot, err := f.st.Scan(ctx, sid, tracking, SizeUnknown)
	if err != nil {
		f.t.Fatalf("scan: %v", err)
	}
	f.openClose(slot.Compartment)
	return slot.Compartment
}

func TestOneCodeOpensSeveralParcels(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "100000000001", "55501234", SizeS)
	f.announce("p-2", "100000000002", "55501234", SizeM)
	f.announce("p-3", "100000000003", "99999999", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	a, b, c := f.deposit(sid, "100000000001"), f.deposit(sid, "100000000002"), f.deposit(sid, "100000000003")

	res, err := f.st.EnterCode(ctx, "55501234", testPhone)
	if err != nil {
		t.Fatal(err)
	}
	var opened []CompartmentID
	for _, s := range res.Slots {
		opened = append(opened, s.Compartment)
	}
	slices.Sort(opened)
	if !slices.Equal(opened, []CompartmentID{a, b}) {
		t.Fatalf("opened %v, want %v (not %v)", opened, []CompartmentID{a, b}, c)
	}
	f.openClose(a)
	f.openClose(b)
	for _, id := range []ParcelID{"p-1", "p-2"} {
		if p := f.parcel(id); p.State != StatePickedUp {
			t.Fatalf("%s: %s", id, p.State)
		}
	}
	if p := f.parcel("p-3"); p.State != StateDeposited {
		t.Fatalf("p-3: %s", p.State)
	}
}

// TestThrottleSurvivesClockStepBack: a lock-out recorded while the clock was a year
// ahead does not lock entry for a year once the clock is corrected and lockerd
// restarts: never longer than max_delay (legacy codes and couriers).
func TestThrottleSurvivesClockStepBack(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.st.policy.LegacyCodes = true
	f.opt.Policy.LegacyCodes = true
	f.clock.Advance(365 * 24 * time.Hour)
	pol := f.st.Policy()
	for range pol.CodeThrottle.MaxFailures {
		f.st.EnterCode(ctx, "00000000", "")
	}
	for range pol.CourierThrottle.MaxFailures {
		f.st.Login(ctx, "NOBODY-ABCDEFGHIJKLMNOPQRS", "0000")
	}
	f.clock.Advance(-365 * 24 * time.Hour)
	f.restart()
	var te *ThrottledError
	if _, err := f.st.EnterCode(ctx, "12345678", ""); !errors.As(err, &te) || te.RetryAfter > pol.CodeThrottle.MaxDelay {
		t.Fatalf("code entry after the step back: %v; want throttled for at most %v", err, pol.CodeThrottle.MaxDelay)
	}
	if _, err := f.st.Login(ctx, "NOBODY-ABCDEFGHIJKLMNOPQRS", "0000"); !errors.As(err, &te) || te.RetryAfter > pol.CourierThrottle.MaxDelay {
		t.Fatalf("login after the step back: %v; want throttled for at most %v", err, pol.CourierThrottle.MaxDelay)
	}
}

func TestExpiryRetrievalAndPurge(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	f.announce("p-2", "100000000002", "11112222", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	c1 := f.deposit(sid, "RB123456785GB")
	c2 := f.deposit(sid, "100000000002")
	pol := f.st.Policy()

	f.tick(pol.Retention + time.Minute)
	if p := f.parcel("p-1"); p.State != StateExpired {
		t.Fatalf("p-1 %s", p.State)
	}
	_, err := f.st.EnterCode(ctx, "48213377", testPhone)
	wantErr(t, err, ErrWrongCode) // an expired parcel does not open by code

	if err := f.st.Recall(ctx, "p-2", "returned to sender"); err != nil {
		t.Fatal(err)
	}
	rid := f.courier("r-1", "BADGE-R-ABCDEFGHIJKLMNOPQR", "9999", Rights{Retrieve: true})
	slots, err := f.st.Retrieve(ctx, rid)
	if err != nil || len(slots) != 2 {
		t.Fatalf("retrieve: %+v %v", slots, err)
	}
	f.openClose(c1)
	f.openClose(c2)
	for _, id := range []ParcelID{"p-1", "p-2"} {
		if p := f.parcel(id); p.State != StateRetrieved {
			t.Fatalf("%s %s", id, p.State)
		}
	}
	epochs := len(f.opt.Keyring.Epochs())
	if epochs == 0 {
		t.Fatal("no epoch key in use")
	}
	// After purge_after the records go; once their epoch is over its key is destroyed.
	f.tick(pol.PurgeAfter + time.Minute)
	if _, err := f.st.ParcelInfo("p-1"); !errors.Is(err, ErrUnknownParcel) {
		t.Fatalf("p-1 not purged: %v", err)
	}
	f.tick(pol.EpochLength)
	// Only the epoch holding unacked outbox entries may survive; ack them and tick.
	evs, err := f.st.outboxPending(0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := f.st.outboxAck(e.Seq); err != nil {
			t.Fatal(err)
		}
	}
	f.tick(pol.EpochLength)
	for _, e := range f.opt.Keyring.Epochs() {
		if e < f.st.epochOf(f.clock.Now()) {
			t.Fatalf("epoch %d outlived its records (epochs %v)", e, f.opt.Keyring.Epochs())
		}
	}
}

func TestRecallStopsCode(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true, Retrieve: true})
	c := f.deposit(sid, "RB123456785GB")
	if err := f.st.Recall(ctx, "p-1", "address problem"); err != nil {
		t.Fatal(err)
	}
	_, err := f.st.EnterCode(ctx, "48213377", testPhone)
	wantErr(t, err, ErrWrongCode)
	slots, err := f.st.Retrieve(ctx, sid)
	if err != nil || len(slots) != 1 || slots[0].Compartment != c {
		t.Fatalf("%+v %v", slots, err)
	}
	f.openClose(c)
	if p := f.parcel("p-1"); p.State != StateRetrieved {
		t.Fatal(p.State)
	}
}

func TestAnnouncedNeverDepositedIsCancelled(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	f.tick(f.st.Policy().AnnouncedKeep + time.Minute)
	if p := f.parcel("p-1"); p.State != StateCancelled {
		t.Fatal(p.State)
	}
	if err := f.st.CancelParcel(ctx, "p-1", "again"); err != nil {
		t.Fatalf("cancelling a cancelled parcel is a no-op: %v", err)
	}
}

func TestSetVerifierReplacesCode(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	c := f.deposit(sid, "RB123456785GB")
	if err := f.st.SetVerifier(ctx, "p-1", Verifiers{Code: f.cloud.CodeVerifier2("76543210", testPhone)}, noLegacy); err != nil {
		t.Fatal(err)
	}
	_, err := f.st.EnterCode(ctx, "48213377", testPhone)
	wantErr(t, err, ErrWrongCode)
	res, err := f.st.EnterCode(ctx, "76543210", testPhone)
	if err != nil || len(res.Slots) != 1 || res.Slots[0].Compartment != c {
		t.Fatalf("%+v %v", res, err)
	}
}

// TestRetrieveLeavesOutDoorsThatStayedShut: a door whose unlock failed is not among
// the doors Retrieve reports opened; its operation is aborted and the parcel stays.
func TestRetrieveLeavesOutDoorsThatStayedShut(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "100000000001", "11111111", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true, Retrieve: true})
	a := f.deposit(sid, "100000000001")
	if err := f.st.Recall(ctx, "p-1", "x"); err != nil {
		t.Fatal(err)
	}
	f.hw.fail[a] = errors.New("bus down")
	slots, err := f.st.Retrieve(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	for _, sl := range slots {
		if sl.Compartment == a {
			t.Fatalf("compartment %d reported opened, but its unlock failed", a)
		}
	}
	if p := f.parcel("p-1"); p.State != StateRecalled || p.Compartment != a {
		t.Fatalf("parcel %s in %d, want still recalled in %d", p.State, p.Compartment, a)
	}
}

// TestDoorPickupHasNoHandover: a code that opens only doors names no handover for
// staff, and leaves none waiting. Kills pickup.go:124 `len(shelved) > 0` to `>= 0`.
func TestDoorPickupHasNoHandover(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	f.deposit(sid, "RB123456785GB")
	res, err := f.st.EnterCode(ctx, "48213377", testPhone)
	if err != nil || len(res.Slots) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if res.Handover != "" || len(f.st.handovers) != 0 {
		t.Fatalf("door pickup named handover %q (%d waiting), want none", res.Handover, len(f.st.handovers))
	}
}

// TestLoginClearsCourierFailures: a courier's successful login clears the failed
// logins before it, so the next mistakes start a fresh count. Kills pickup.go:177
// (resetThrottle's `th.Failures == 0` to `!=`), which keeps them.
func TestLoginClearsCourierFailures(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	maxFail := f.st.Policy().CourierThrottle.MaxFailures
	fail := func() {
		t.Helper()
		for i := 1; i < maxFail; i++ {
			_, err := f.st.Login(ctx, "BADGE-1-ABCDEFGHIJKLMNOPQR", "0000")
			wantErr(t, err, ErrBadCredentials)
		}
	}
	fail()
	if _, err := f.st.Login(ctx, "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468"); err != nil {
		t.Fatal(err)
	}
	fail()
	if _, err := f.st.Login(ctx, "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468"); err != nil {
		t.Fatalf("login after %d failures, a success and %d failures: %v", maxFail-1, maxFail-1, err)
	}
}

// TestStaleShelfOfferCannotCancelAfterHandover: once a parcel on a shelf is handed
// over and another courier deposits on that shelf, the first courier's cancel finds
// nothing to cancel. Kills pickup.go:218 (Handover's Generation++ to --): the shelf's
// generation would come back to the first deposit's, and the cancel would put the
// parcel already handed over back to announced.
func TestStaleShelfOfferCannotCancelAfterHandover(t *testing.T) {
	f := newFixture(t, shelfSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	f.announce("p-2", "100000000002", "11112222", SizeS)
	a := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	b := f.courier("c-2", "BADGE-2-ABCDEFGHIJKLMNOPQR", "1357", Rights{Deposit: true})
	if slot, err := f.st.Scan(ctx, a, "RB123456785GB", SizeUnknown); err != nil || slot.Compartment != 1 {
		t.Fatalf("%+v %v", slot, err)
	}
	res, err := f.st.EnterCode(ctx, "48213377", testPhone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Handover(ctx, res.Handover, "RB123456785GB"); err != nil {
		t.Fatal(err)
	}
	if slot, err := f.st.Scan(ctx, b, "100000000002", SizeUnknown); err != nil || slot.Compartment != 1 {
		t.Fatalf("%+v %v", slot, err)
	}
	wantErr(t, f.st.Cancel(ctx, a), ErrNoPending)
	if p := f.parcel("p-1"); p.State != StatePickedUp {
		t.Fatalf("the parcel handed over is %s", p.State)
	}
}
