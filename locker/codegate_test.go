package locker

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

// depositOne announces p-1 under code 48213377 (with the test phone) and QR qr, and
// deposits it; it returns the compartment.
func (f *fixture) depositOne(qr string) CompartmentID {
	f.t.Helper()
	a := Announcement{ID: "p-1", Waybill: f.cloud.Waybill("RB123456785GB"), Size: SizeS, Hint: "…85GB",
		Verifiers: Verifiers{Code: f.cloud.CodeVerifier2("48213377", testPhone)}}
	if qr != "" {
		a.QR = f.cloud.QRVerifier(qr)
	}
	if res, err := f.st.Announce(ctx, []Announcement{a}); err != nil || res[0] != nil {
		f.t.Fatalf("announce: %v %v", err, res)
	}
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	c := f.deposit(sid, "RB123456785GB")
	f.clock.Advance(f.st.Policy().CodeEntry.Delay) // past the gate's hold at start
	return c
}

// TestWrongCodesAreSpacedNotLocked: wrong codes are never locked out, only spaced by
// the policy's delay (the fixture's clock jumps over each wait); the right code then
// opens; a success resets nothing.
func TestWrongCodesAreSpacedNotLocked(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	c := f.depositOne("")
	d := f.st.Policy().CodeEntry.Delay
	start := f.clock.Now()
	const wrong = 12 // more than the legacy lock-out's max_failures
	for i := range wrong {
		_, err := f.st.EnterCode(ctx, "00000000", testPhone)
		wantErr(t, err, ErrWrongCode)
		if got := f.clock.Now().Sub(start); got != time.Duration(i)*d {
			t.Fatalf("wrong code %d evaluated at +%v, want +%v", i+1, got, time.Duration(i)*d)
		}
	}
	res, err := f.st.EnterCode(ctx, "48213377", testPhone)
	if err != nil || len(res.Slots) != 1 || res.Slots[0].Compartment != c {
		t.Fatalf("the right code after %d wrong ones: %+v %v", wrong, res, err)
	}
	if got := f.clock.Now().Sub(start); got != wrong*d {
		t.Fatalf("right code evaluated at +%v, want +%v (one delay after the last failure)", got, wrong*d)
	}
	if n := f.countEvents(EvThrottled); n != 0 || f.st.codeThr.Failures != 0 {
		t.Fatalf("a lock-out counted: %d throttled events, %+v", n, f.st.codeThr)
	}
	// The success reset nothing: the next wrong code is evaluated at once (the right
	// code was a success, which does not close the gate), the one after it waits.
	at := f.clock.Now()
	f.st.EnterCode(ctx, "00000000", testPhone)
	f.st.EnterCode(ctx, "00000000", testPhone)
	if got := f.clock.Now().Sub(at); got != d {
		t.Fatalf("two wrong codes after a success took %v, want %v", got, d)
	}
	if s, _ := f.st.Status(); s.CodeFailures24h != wrong+2 {
		t.Fatalf("code_failures_24h = %d, want %d", s.CodeFailures24h, wrong+2)
	}
}

// TestMalformedCodeIsFree: input of the wrong shape is refused before any lookup,
// without waiting for the gate or writing anything.
func TestMalformedCodeIsFree(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.depositOne("")
	f.st.EnterCode(ctx, "00000000", testPhone) // the gate is now closed for a delay
	at, commits := f.clock.Now(), f.commits()
	for _, tt := range []struct{ code, last4 string }{
		{"12ab", testPhone}, {"1234567", testPhone}, {"1234567890123", testPhone},
		{"48213377", ""}, {"48213377", "123"}, {"48213377", "12a4"},
	} {
		_, err := f.st.EnterCode(ctx, tt.code, tt.last4)
		wantErr(t, err, ErrCodeFormat)
	}
	if _, err := f.st.EnterQR(ctx, "not a QR secret"); !errors.Is(err, ErrCodeFormat) {
		t.Fatalf("malformed QR: %v", err)
	}
	if f.clock.Now() != at || f.commits() != commits {
		t.Fatalf("malformed input waited %v or wrote %d commits", f.clock.Now().Sub(at), f.commits()-commits)
	}
	// The policy's minimum length is the device's: 10 refuses 8 digits.
	p := f.st.Policy()
	p.Version++
	p.CodeEntry.MinLength = 10
	if err := f.st.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	_, err := f.st.EnterCode(ctx, "48213377", testPhone)
	wantErr(t, err, ErrCodeFormat)
}

// TestCodeGateSurvivesRestart: a failure on record holds the gate closed for one delay
// after a start, and never longer, even when the clock was stepped back by a year.
func TestCodeGateSurvivesRestart(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.depositOne("")
	d := f.st.Policy().CodeEntry.Delay
	f.clock.Advance(365 * 24 * time.Hour)
	f.st.EnterCode(ctx, "00000000", testPhone)
	f.clock.Advance(-365 * 24 * time.Hour)
	f.restart()
	at := f.clock.Now()
	if _, err := f.st.EnterCode(ctx, "48213377", testPhone); err != nil {
		t.Fatal(err)
	}
	if got := f.clock.Now().Sub(at); got != d {
		t.Fatalf("first evaluation after a restart waited %v, want %v", got, d)
	}
}

// TestGuessingAlarm: more than alarm_failures failures in an hour raise one guessing
// event, not one per failure; QR failures raise their own.
func TestGuessingAlarm(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.depositOne("")
	limit := f.st.Policy().CodeEntry.AlarmFailures
	for range limit {
		f.st.EnterCode(ctx, "00000000", testPhone)
	}
	if n := f.countEvents(EvGuessing); n != 0 {
		t.Fatalf("%d guessing events at the limit", n)
	}
	for range limit {
		f.st.EnterCode(ctx, "00000000", testPhone)
	}
	if n := f.countEvents(EvGuessing); n != 1 {
		t.Fatalf("%d guessing events, want 1 an hour", n)
	}
	if e := f.lastEvent(EvGuessing); e.Source != ThrottleCode || e.Count != limit+1 || e.Seconds != 3600 {
		t.Fatalf("guessing event %+v", e)
	}
	for range limit + 1 {
		f.st.EnterQR(ctx, rand.Text())
	}
	if e := f.lastEvent(EvGuessing); e.Source != ThrottleQR || f.countEvents(EvGuessing) != 2 {
		t.Fatalf("QR guessing: %+v, %d events", e, f.countEvents(EvGuessing))
	}
}

// TestQRNeverGated: a pickup QR opens at once while the code gate is closed, and
// wrong QR scans wait for nothing.
func TestQRNeverGated(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	secret := rand.Text()
	c := f.depositOne(secret)
	for range 5 {
		f.st.EnterCode(ctx, "00000000", testPhone)
	}
	at := f.clock.Now()
	for range 20 {
		_, err := f.st.EnterQR(ctx, rand.Text())
		wantErr(t, err, ErrWrongCode)
	}
	res, err := f.st.EnterQR(ctx, secret)
	if err != nil || len(res.Slots) != 1 || res.Slots[0].Compartment != c {
		t.Fatalf("QR pickup: %+v %v", res, err)
	}
	if f.clock.Now() != at {
		t.Fatalf("QR entries waited %v", f.clock.Now().Sub(at))
	}
	// The QR verifier is not a code verifier: its secret typed as a code opens nothing.
	if _, err := f.st.EnterCode(ctx, "48213377", "0000"); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("code with other phone digits: %v", err)
	}
}

// TestLegacyCodes: scheme-1 verifiers are refused unless legacy_codes; with it, a code
// alone opens its parcel through the same gate, its failures count on the legacy
// lock-out, which blocks only the scheme-1 lookup, and clear-throttle clears it.
func TestLegacyCodes(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	old := Announcement{ID: "p-9", Waybill: f.cloud.Waybill("RR000000028GB"), Size: SizeS, Hint: "…28GB",
		Verifier: f.cloud.CodeVerifier("654321")}
	if res, err := f.st.Announce(ctx, []Announcement{old}); err != nil || !errors.Is(res[0], ErrLegacyCode) {
		t.Fatalf("scheme-1 announcement without legacy_codes: %v %v", err, res)
	}
	p := f.st.Policy()
	p.Version++
	p.LegacyCodes = true
	if err := f.st.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if res, err := f.st.Announce(ctx, []Announcement{old}); err != nil || res[0] != nil {
		t.Fatalf("scheme-1 announcement with legacy_codes: %v %v", err, res)
	}
	c9 := f.deposit(f.courier("c-9", "BADGE-9-ABCDEFGHIJKLMNOPQR", "1357", Rights{Deposit: true}), "RR000000028GB")
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	c1 := f.deposit(f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true}), "RB123456785GB")
	if s, _ := f.st.Status(); s.LegacyParcels != 1 {
		t.Fatalf("legacy_parcels = %d", s.LegacyParcels)
	}
	thr := p.CodeThrottle
	var te *ThrottledError
	for range thr.MaxFailures { // the last starts the lock-out, after its own evaluation
		_, err := f.st.EnterCode(ctx, "000000", "")
		wantErr(t, err, ErrWrongCode)
	}
	if _, err := f.st.EnterCode(ctx, "654321", ""); !errors.As(err, &te) {
		t.Fatalf("legacy code while locked: %v", err)
	}
	if e := f.lastEvent(EvThrottled); e.Source != ThrottleCode || e.Count != thr.MaxFailures {
		t.Fatalf("throttled event %+v", e)
	}
	// Scheme-2 codes are still served.
	if res, err := f.st.EnterCode(ctx, "48213377", testPhone); err != nil || res.Slots[0].Compartment != c1 {
		t.Fatalf("scheme-2 code during a legacy lock-out: %+v %v", res, err)
	}
	if err := f.st.ClearThrottle(ctx, "doors", "op-1", "cmd-0"); err == nil {
		t.Fatal("clear-throttle of an unknown source accepted")
	}
	if err := f.st.ClearThrottle(ctx, ThrottleCode, "op-1", "cmd-1"); err != nil {
		t.Fatal(err)
	}
	if e := f.lastEvent(EvThrottleCleared); e.Source != ThrottleCode || e.Actor != "op-1" || e.Command != "cmd-1" {
		t.Fatalf("throttle_cleared %+v", e)
	}
	if res, err := f.st.EnterCode(ctx, "654321", ""); err != nil || res.Slots[0].Compartment != c9 {
		t.Fatalf("legacy code after clear-throttle: %+v %v", res, err)
	}
	// A scheme-2 code verifier set for the old parcel replaces its scheme-1 one.
	if err := f.st.SetVerifier(ctx, "p-9", Verifiers{Code: f.cloud.CodeVerifier2("11112222", testPhone)}, noLegacy); err != nil {
		t.Fatal(err)
	}
	if s, _ := f.st.Status(); s.LegacyParcels != 0 {
		t.Fatalf("legacy_parcels after set-verifier = %d", s.LegacyParcels)
	}
}

// TestClearCourierThrottle: clear-throttle ends a courier lock-out at once.
func TestClearCourierThrottle(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	for range f.st.Policy().CourierThrottle.MaxFailures {
		f.st.Login(ctx, "NOBODY-ABCDEFGHIJKLMNOPQRSTU", "0000")
	}
	if _, err := f.st.Login(ctx, "NOBODY-ABCDEFGHIJKLMNOPQRSTU", "0000"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("no courier lock-out: %v", err)
	}
	if err := f.st.ClearThrottle(context.Background(), ThrottleCourier, "op-2", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Login(ctx, "NOBODY-ABCDEFGHIJKLMNOPQRSTU", "0000"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("after clear-throttle: %v", err)
	}
}
