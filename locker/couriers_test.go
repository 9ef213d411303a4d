package locker

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/courier"
	"github.com/lockerd/lockerd/locker/store"
)

const (
	badgeA = "BADGE-A-ABCDEFGHIJKLMNOPQR"
	badgeB = "BADGE-B-ABCDEFGHIJKLMNOPQR"
)

// courierRecords returns the station's stored courier records.
func courierRecords(t *testing.T, st *Station) []*store.CourierRecord {
	t.Helper()
	var out []*store.CourierRecord
	if err := st.store.View(func(tx store.Tx) error {
		return tx.Couriers(func(r *store.CourierRecord) error {
			out = append(out, r)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func courierSlots(st *Station) []uint32 {
	var out []uint32
	for _, e := range st.keyring.Epochs() {
		if courier.IsSlot(e) {
			out = append(out, e)
		}
	}
	return out
}

// One badge under attack is locked out alone: wrong PINs on badge A lock A, while B
// still logs in, and A's right PIN waits for A's lock-out, not the station's.
func TestBadgeThrottledAlone(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.courier("c-a", badgeA, "2468", Rights{Deposit: true})
	f.courier("c-b", badgeB, "1357", Rights{Deposit: true})
	pol := f.st.Policy().CourierThrottle
	var te *ThrottledError
	for i := 1; i <= pol.MaxFailures; i++ {
		_, err := f.st.Login(ctx, badgeA, "0000")
		switch {
		case i < pol.MaxFailures && !errors.Is(err, ErrBadCredentials):
			t.Fatalf("wrong PIN %d: %v", i, err)
		case i == pol.MaxFailures && !errors.As(err, &te):
			t.Fatalf("wrong PIN %d: %v, want the badge locked", i, err)
		}
	}
	if _, err := f.st.Login(ctx, badgeA, "2468"); !errors.As(err, &te) {
		t.Fatalf("badge A's right PIN while A is locked: %v", err)
	}
	if _, err := f.st.Login(ctx, badgeB, "1357"); err != nil {
		t.Fatalf("badge B while A is locked: %v", err)
	}
	if ev := f.lastEvent(EvThrottled); ev.Source != ThrottleCourier || ev.Actor != "c-a" {
		t.Fatalf("throttled event %+v: want courier c-a's badge", ev)
	}
	// The lock-out is stored: a restart does not hand out a fresh allowance.
	f.restart()
	if _, err := f.st.Login(ctx, badgeA, "2468"); !errors.As(err, &te) {
		t.Fatalf("badge A after a restart: %v", err)
	}
	f.clock.Advance(te.RetryAfter)
	if _, err := f.st.Login(ctx, badgeA, "2468"); err != nil {
		t.Fatalf("badge A after its lock-out: %v", err)
	}
}

// Unknown badges count against the station's throttle; while it is locked, known
// badges still log in. A token too short to be a badge costs no guess.
func TestUnknownBadgesDoNotLockOutCouriers(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.courier("c-a", badgeA, "2468", Rights{Deposit: true})
	pol := f.st.Policy().CourierThrottle
	for range 3 * pol.MaxFailures {
		if _, err := f.st.Login(ctx, "short", "0000"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("short token: %v", err)
		}
	}
	if f.st.courThr.Failures != 0 {
		t.Fatalf("short tokens counted %d failures", f.st.courThr.Failures)
	}
	var te *ThrottledError
	for range pol.MaxFailures {
		f.st.Login(ctx, "UNKNOWN-ABCDEFGHIJKLMNOPQR", "0000")
	}
	if _, err := f.st.Login(ctx, "UNKNOWN-ABCDEFGHIJKLMNOPQR", "0000"); !errors.As(err, &te) {
		t.Fatalf("unknown badges after %d failures: %v, want throttled", pol.MaxFailures, err)
	}
	if _, err := f.st.Login(ctx, badgeA, "2468"); err != nil {
		t.Fatalf("a known badge while unknown ones are throttled: %v", err)
	}
}

// A revoke destroys the courier's key: the record as it was stored (a copy left in a
// free page or on flash) no longer opens, and the badge no longer logs in.
func TestRevokeShredsCourier(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.courier("c-a", badgeA, "2468", Rights{Deposit: true})
	f.courier("c-b", badgeB, "1357", Rights{Deposit: true})
	before := courierRecords(t, f.st)
	if len(before) != 2 || len(courierSlots(f.st)) != 2 {
		t.Fatalf("%d records, %d courier keys; want 2 and 2", len(before), len(courierSlots(f.st)))
	}
	if err := f.st.RevokeCourier(ctx, "c-a"); err != nil {
		t.Fatal(err)
	}
	opened := 0
	for _, r := range before {
		if c, ok := f.st.couriers.Open(r); ok {
			opened++
			if c.ID != "c-b" {
				t.Fatalf("courier %s's record still opens after its revoke", c.ID)
			}
		}
	}
	if opened != 1 || len(courierSlots(f.st)) != 1 {
		t.Fatalf("after the revoke: %d old records open, %d courier keys; want 1 and 1", opened, len(courierSlots(f.st)))
	}
	if _, err := f.st.Login(ctx, badgeA, "2468"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("a revoked badge: %v", err)
	}
	if _, err := f.st.Login(ctx, badgeB, "1357"); err != nil {
		t.Fatalf("the other courier: %v", err)
	}
}

// An upsert replaces the courier's record (a new badge, a new PIN) and destroys the
// old record's key.
func TestUpsertReplacesCourier(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.courier("c-a", badgeA, "2468", Rights{Deposit: true})
	old := courierRecords(t, f.st)
	f.courier("c-a", badgeB, "1357", Rights{Deposit: true, Retrieve: true})
	if _, ok := f.st.couriers.Open(old[0]); ok {
		t.Fatal("the replaced record still opens")
	}
	if _, err := f.st.Login(ctx, badgeA, "2468"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("the replaced badge: %v", err)
	}
	if n, k := len(courierRecords(t, f.st)), len(courierSlots(f.st)); n != 1 || k != 1 {
		t.Fatalf("%d records and %d courier keys; want 1 and 1", n, k)
	}
	// The same badge given to another courier id takes it over.
	f.courier("c-z", badgeB, "1357", Rights{Deposit: true})
	if n := len(courierRecords(t, f.st)); n != 1 {
		t.Fatalf("%d records after the badge moved; want 1", n)
	}
}

// A courier record moves to the current epoch before past epochs are shredded, so
// the past epoch's key goes and the courier still logs in.
func TestCourierResealedIntoCurrentEpoch(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.courier("c-a", badgeA, "2468", Rights{Deposit: true})
	first := courierRecords(t, f.st)[0]
	pending, err := f.st.outboxPending(0, 100) // the cloud received the events sealed under the epoch
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range pending {
		if err := f.st.outboxAck(e.Seq); err != nil {
			t.Fatal(err)
		}
	}
	f.tick(f.st.Policy().EpochLength + 2*time.Hour)
	now := courierRecords(t, f.st)[0]
	if now.Epoch == first.Epoch || now.Epoch != f.st.epochOf(f.clock.Now()) {
		t.Fatalf("record in epoch %d, was %d; want the current %d", now.Epoch, first.Epoch, f.st.epochOf(f.clock.Now()))
	}
	if _, ok := f.st.keyring.Lookup(first.Epoch); ok {
		t.Fatal("the past epoch's key outlived its last record")
	}
	if _, err := f.st.Login(ctx, badgeA, "2468"); err != nil {
		t.Fatalf("login after the move: %v", err)
	}
}

// Nothing of a courier is in the store file in a form the cloud or a card holder
// could match: not the badge digest, not the PIN verifier. (The courier's opaque id is
// in the audit log, which names who did what, ADR 0030.)
func TestCourierNothingLinkableInStore(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.courier("c-a", badgeA, "2468", Rights{Deposit: true})
	b, v := f.cloud.Badge(badgeA), f.cloud.Courier(badgeA, "2468")
	f.st.Close()
	data, err := os.ReadFile(filepath.Join(f.dir, "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	f.open()
	for name, needle := range map[string][]byte{"badge digest": b[:], "PIN verifier": v[:], "badge token": []byte(badgeA)} {
		if bytes.Contains(data, needle) {
			t.Errorf("the store file holds the %s", name)
		}
	}
}

// BenchmarkCourierLogin is a known badge's login: the badge digest, a lookup per live
// epoch, the record opened, the PIN verifier compared (no write: no failures to clear).
func BenchmarkCourierLogin(b *testing.B) {
	f := newFixture(b, mixedSpecs())
	f.courier("c-a", badgeA, "2468", Rights{Deposit: true})
	for b.Loop() {
		if _, err := f.st.loginCourier(badgeA, "2468", f.clock.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCourierUpsert replaces one courier: a new courier key (a keyring write),
// one commit, the old key destroyed (a keyring write and overwrite).
func BenchmarkCourierUpsert(b *testing.B) {
	f := newFixture(b, mixedSpecs())
	c := Courier{ID: "c-a", Badge: f.cloud.Badge(badgeA), Verifier: f.cloud.Courier(badgeA, "2468"), Rights: Rights{Deposit: true}}
	for b.Loop() {
		if err := f.st.UpsertCourier(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// A courier's login clears the station-wide failures (unknown badges) before it, as it
// did when every failure counted there: a courier whose own badge was mistyped into a
// scanner does not leave the station closer to a lock-out.
func TestLoginClearsStationCourierFailures(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.courier("c-a", badgeA, "2468", Rights{Deposit: true})
	maxFail := f.st.Policy().CourierThrottle.MaxFailures
	fail := func() {
		t.Helper()
		for i := 1; i < maxFail; i++ {
			_, err := f.st.Login(ctx, "UNKNOWN-ABCDEFGHIJKLMNOPQR", "0000")
			wantErr(t, err, ErrBadCredentials)
		}
	}
	fail()
	if _, err := f.st.Login(ctx, badgeA, "2468"); err != nil {
		t.Fatal(err)
	}
	fail()
	if f.st.courThr.Failures != maxFail-1 {
		t.Fatalf("%d station-wide failures, want %d: the login did not clear those before it", f.st.courThr.Failures, maxFail-1)
	}
}

// A PIN that is not 4-12 digits is refused before any lookup: even a courier whose
// cloud issued one cannot log in with it, and no throttle counts it.
func TestMalformedPINRefusedFree(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	if err := f.st.UpsertCourier(ctx, Courier{ID: "c-short", Badge: f.cloud.Badge(badgeA),
		Verifier: f.cloud.Courier(badgeA, "123"), Rights: Rights{Deposit: true}}); err != nil {
		t.Fatal(err)
	}
	for _, pin := range []string{"123", "12a4", "1234567890123", ""} {
		if _, err := f.st.Login(ctx, badgeA, pin); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("PIN %q: %v, want refused", pin, err)
		}
	}
	if _, err := f.st.Login(ctx, "UNKNOWN-ABCDEFGHIJKLMNOPQR", "12"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown badge, short PIN: %v", err)
	}
	if f.st.courThr.Failures != 0 {
		t.Fatalf("malformed PINs counted %d station failures", f.st.courThr.Failures)
	}
	// The badge's own throttle did not count them either: a right PIN of the right
	// form (a new record) logs in at once.
	if err := f.st.UpsertCourier(ctx, Courier{ID: "c-short", Badge: f.cloud.Badge(badgeA),
		Verifier: f.cloud.Courier(badgeA, "1234"), Rights: Rights{Deposit: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Login(ctx, badgeA, "1234"); err != nil {
		t.Fatalf("a well-formed PIN after malformed ones: %v", err)
	}
}
