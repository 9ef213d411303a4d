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

	res, err := f.st.EnterCode(ctx, "55501234")
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

func TestWrongCodesAndThrottle(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	f.deposit(sid, "RB123456785GB")
	pol := f.st.Policy().CodeThrottle

	for i := 1; i < pol.MaxFailures; i++ {
		_, err := f.st.EnterCode(ctx, "00000000")
		wantErr(t, err, ErrWrongCode)
	}
	_, err := f.st.EnterCode(ctx, "12ab")
	var te *ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != pol.BaseDelay {
		t.Fatalf("failure %d: %v, want a lock-out of %v", pol.MaxFailures, err, pol.BaseDelay)
	}
	if f.countEvents(EvThrottled) != 1 {
		t.Fatalf("throttle alarm not raised: %v", f.eventTypes())
	}
	if e := f.lastEvent(EvThrottled); e.Source != ThrottleCode || e.Seconds != int64(pol.BaseDelay/time.Second) || e.Count != pol.MaxFailures {
		t.Fatalf("throttled event %+v", e)
	}
	// While locked, even the right code is refused, and nothing is evaluated.
	_, err = f.st.EnterCode(ctx, "48213377")
	wantErr(t, err, ErrThrottled)

	// The lock-out survives a restart.
	f.restart()
	_, err = f.st.EnterCode(ctx, "48213377")
	wantErr(t, err, ErrThrottled)

	// After the delay one more failure locks again, for twice as long.
	f.clock.Advance(pol.BaseDelay)
	_, err = f.st.EnterCode(ctx, "11111111")
	if !errors.As(err, &te) || te.RetryAfter != 2*pol.BaseDelay {
		t.Fatalf("%v, want a lock-out of %v", err, 2*pol.BaseDelay)
	}
	f.clock.Advance(2 * pol.BaseDelay)
	res, err := f.st.EnterCode(ctx, "48213377")
	if err != nil || len(res.Slots) != 1 {
		t.Fatalf("correct code after the delay: %+v %v", res, err)
	}
	if f.st.codeThr.Failures != 0 {
		t.Fatalf("a success must reset the counter: %+v", f.st.codeThr)
	}
}

func TestThrottleDelayIsCapped(t *testing.T) {
	p := ThrottlePolicy{MaxFailures: 3, BaseDelay: time.Second, MaxDelay: 10 * time.Second}
	var th throttle
	var got []time.Duration
	for range 8 {
		got = append(got, th.fail(p, testStart))
	}
	want := []time.Duration{0, 0, 1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("delays %v, want %v", got, want)
	}
}

// TestOwnCodeDoesNotResetThrottle: a recipient who holds their own door open and
// re-enters their own code between wrong guesses gets no fresh allowance: only a code
// that opens a door clears the failures (found by a review: 200 guesses unthrottled).
func TestOwnCodeDoesNotResetThrottle(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	f.deposit(sid, "RB123456785GB")
	if _, err := f.st.EnterCode(ctx, "48213377"); err != nil {
		t.Fatal(err)
	}
	f.door(1, true) // the recipient opens the door and keeps it open
	max := f.st.Policy().CodeThrottle.MaxFailures
	wrong := 0
	for range 5 * max {
		_, err := f.st.EnterCode(ctx, "00000000")
		if errors.Is(err, ErrThrottled) {
			break
		}
		if !errors.Is(err, ErrWrongCode) {
			t.Fatal(err)
		}
		wrong++
		if res, err := f.st.EnterCode(ctx, "48213377"); err != nil || len(res.Slots) != 1 {
			t.Fatalf("own code again while the door is open: %+v, %v; want its slot", res, err)
		}
	}
	if wrong != max-1 { // the max_failures-th wrong code starts the lock-out
		t.Fatalf("%d wrong codes before the lock-out, want %d (max_failures-1)", wrong, max-1)
	}
}

// TestThrottleSurvivesClockStepBack: a lock-out recorded while the clock was a year
// ahead does not lock entry for a year once the clock is corrected and lockerd
// restarts: never longer than max_delay.
func TestThrottleSurvivesClockStepBack(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.clock.Advance(365 * 24 * time.Hour)
	pol := f.st.Policy()
	for range pol.CodeThrottle.MaxFailures {
		f.st.EnterCode(ctx, "00000000")
	}
	for range pol.CourierThrottle.MaxFailures {
		f.st.Login(ctx, "NOBODY-ABCDEFGHIJKLMNOPQRS", "0000")
	}
	f.clock.Advance(-365 * 24 * time.Hour)
	f.restart()
	var te *ThrottledError
	if _, err := f.st.EnterCode(ctx, "12345678"); !errors.As(err, &te) || te.RetryAfter > pol.CodeThrottle.MaxDelay {
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
	_, err := f.st.EnterCode(ctx, "48213377")
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
	_, err := f.st.EnterCode(ctx, "48213377")
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
	if err := f.st.SetVerifier(ctx, "p-1", f.cloud.CodeVerifier("7654321")); err != nil {
		t.Fatal(err)
	}
	_, err := f.st.EnterCode(ctx, "48213377")
	wantErr(t, err, ErrWrongCode)
	res, err := f.st.EnterCode(ctx, "7654321")
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

// wrongCodesUntilThrottled enters wrong codes until entry is throttled and returns how
// many were refused as wrong first (failing the test past limit).
func (f *fixture) wrongCodesUntilThrottled(limit int) int {
	f.t.Helper()
	for n := 0; n <= limit; n++ {
		_, err := f.st.EnterCode(ctx, "00000000")
		if errors.Is(err, ErrThrottled) {
			return n
		}
		if !errors.Is(err, ErrWrongCode) {
			f.t.Fatalf("wrong code %d: %v", n+1, err)
		}
	}
	f.t.Fatalf("no lock-out after %d wrong codes", limit+1)
	return 0
}

// TestCodeThatOpensClearsRecordedFailures: a code that opens a door clears the wrong
// codes before it durably, so a restart does not bring them back. Kills the mutants
// of pickup.go:107 `len(pulses) > 0 && s.codeThr.Failures > 0` that skip the store
// write after a success: `len(pulses) <= 0` and `Failures <= 0`.
func TestCodeThatOpensClearsRecordedFailures(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	f.deposit(sid, "RB123456785GB")
	maxFail := f.st.Policy().CodeThrottle.MaxFailures
	for range 2 {
		_, err := f.st.EnterCode(ctx, "00000000")
		wantErr(t, err, ErrWrongCode)
	}
	if res, err := f.st.EnterCode(ctx, "48213377"); err != nil || len(res.Slots) != 1 {
		t.Fatalf("the right code: %+v, %v", res, err)
	}
	f.restart()
	if n := f.wrongCodesUntilThrottled(maxFail); n != maxFail-1 {
		t.Fatalf("%d wrong codes before the lock-out after a success and a restart, want %d", n, maxFail-1)
	}
}

// TestOwnCodeAgainKeepsRecordedFailures: the same code again while its door stands
// open clears no failures, in RAM (TestOwnCodeDoesNotResetThrottle) or in the store:
// after a restart the wrong codes before it still count. Kills the mutants of
// pickup.go:107 that write the reset without a door opened: `len(pulses) >= 0` and
// `len(pulses) <= 0`.
func TestOwnCodeAgainKeepsRecordedFailures(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	f.deposit(sid, "RB123456785GB")
	if _, err := f.st.EnterCode(ctx, "48213377"); err != nil {
		t.Fatal(err)
	}
	f.door(1, true) // the recipient holds the door open
	maxFail := f.st.Policy().CodeThrottle.MaxFailures
	for range 2 {
		_, err := f.st.EnterCode(ctx, "00000000")
		wantErr(t, err, ErrWrongCode)
	}
	if res, err := f.st.EnterCode(ctx, "48213377"); err != nil || len(res.Slots) != 1 {
		t.Fatalf("own code again while the door is open: %+v, %v", res, err)
	}
	f.restart()
	if n := f.wrongCodesUntilThrottled(maxFail); n != maxFail-3 {
		t.Fatalf("%d wrong codes before the lock-out after a restart, want %d (2 were recorded before)", n, maxFail-3)
	}
}

// TestDoorPickupHasNoHandover: a code that opens only doors names no handover for
// staff, and leaves none waiting. Kills pickup.go:124 `len(shelved) > 0` to `>= 0`.
func TestDoorPickupHasNoHandover(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	f.deposit(sid, "RB123456785GB")
	res, err := f.st.EnterCode(ctx, "48213377")
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
	res, err := f.st.EnterCode(ctx, "48213377")
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
