package locker

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/internal/canary"
	"github.com/lockerd/lockerd/locker/audit"
	"github.com/lockerd/lockerd/locker/privacy"
)

func shelfSpecs() []CompartmentSpec {
	return []CompartmentSpec{
		{ID: 1, Label: "A-01", Size: SizeM, Kind: KindShelf, Capacity: 10},
		{ID: 2, Label: "A-02", Size: SizeXL, Kind: KindShelf, Capacity: 10},
	}
}

func TestShelfHandoverNeedsTheRightParcel(t *testing.T) {
	f := newFixture(t, shelfSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	f.announce("p-2", "100000000002", "11112222", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	for _, tn := range []string{"RB123456785GB", "100000000002"} {
		f.clock.Advance(2 * time.Second)
		slot, err := f.st.Scan(ctx, sid, tn, SizeUnknown)
		if err != nil || slot.Label != "A-01" {
			t.Fatalf("%+v %v", slot, err)
		}
	}
	if len(f.hw.unlocked()) != 0 {
		t.Fatal("shelves have no locks")
	}
	_, err := f.st.Handover(ctx, "", "RB123456785GB")
	wantErr(t, err, ErrNoHandover)

	res, err := f.st.EnterCode(ctx, "48213377", testPhone)
	if err != nil || len(res.Slots) != 1 || res.Slots[0].Label != "A-01" || res.Handover == "" {
		t.Fatalf("%+v %v", res, err)
	}
	_, err = f.st.Handover(ctx, res.Handover, "100000000002") // the parcel beside it on the shelf
	wantErr(t, err, ErrWrongParcel)
	if f.countEvents(EvWrongParcel) != 1 || !strings.Contains(f.logs.String(), "wrong parcel") {
		t.Fatal("a wrong handover must be audited and logged")
	}
	if p := f.parcel("p-2"); p.State != StateDeposited {
		t.Fatal(p.State)
	}
	slot, err := f.st.Handover(ctx, res.Handover, "RB123456785GB")
	if err != nil || slot.Parcel != "p-1" {
		t.Fatalf("%+v %v", slot, err)
	}
	if p := f.parcel("p-1"); p.State != StatePickedUp {
		t.Fatal(p.State)
	}
	// The handover window closes.
	res2, err := f.st.EnterCode(ctx, "11112222", testPhone)
	if err != nil {
		t.Fatal(err)
	}
	f.tick(f.st.Policy().HandoverTimeout + time.Second)
	_, err = f.st.Handover(ctx, res2.Handover, "100000000002")
	wantErr(t, err, ErrNoHandover)
}

// TestHandoverOnlyForTheRecipientServed: with two recipients waiting at the
// counter, a scan of the second one's parcel does not complete the first one's
// handover (found by a review: any waiting handover matched).
func TestHandoverOnlyForTheRecipientServed(t *testing.T) {
	f := newFixture(t, shelfSpecs())
	f.announce("p-a", "RB123456785GB", "11111111", SizeS)
	f.announce("p-b", "100000000002", "22222222", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	for _, tn := range []string{"RB123456785GB", "100000000002"} {
		f.clock.Advance(2 * time.Second)
		if _, err := f.st.Scan(ctx, sid, tn, SizeUnknown); err != nil {
			t.Fatal(err)
		}
	}
	b, err := f.st.EnterCode(ctx, "22222222", testPhone) // B enters a code first ...
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.st.EnterCode(ctx, "11111111", testPhone) // ... then A, who is served now
	if err != nil || a.Handover == "" || a.Handover == b.Handover {
		t.Fatalf("A's entry: %+v %v (B's handover %q)", a, err, b.Handover)
	}
	_, err = f.st.Handover(ctx, a.Handover, "100000000002") // B's parcel handed to A
	wantErr(t, err, ErrWrongParcel)
	if p := f.parcel("p-b"); p.State != StateDeposited {
		t.Fatalf("B's parcel is %s", p.State)
	}
	if slot, err := f.st.Handover(ctx, b.Handover, "100000000002"); err != nil || slot.Parcel != "p-b" {
		t.Fatalf("B's own handover: %+v %v", slot, err)
	}
	if slot, err := f.st.Handover(ctx, a.Handover, "RB123456785GB"); err != nil || slot.Parcel != "p-a" {
		t.Fatalf("A's own handover: %+v %v", slot, err)
	}
	_, err = f.st.Handover(ctx, a.Handover, "RB123456785GB") // done: the entry is spent
	wantErr(t, err, ErrNoHandover)
}

func TestRestartReconcilesWithDoors(t *testing.T) {
	cases := []struct {
		name      string
		seenOpen  bool
		openNow   bool
		wantState ParcelState
		wantComp  bool // parcel still placed in the compartment
		wantOp    Op
		outcome   string // of the reconciled event; "": none (the operation goes on)
	}{
		{"opened and closed while down", true, false, StateDeposited, true, OpNone, ReconcileCompleted},
		{"never seen open", false, false, StateAnnounced, true, OpNone, ReconcileUnverified},
		{"still open", false, true, StateAnnounced, true, OpDeposit, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, mixedSpecs())
			f.announce("p-1", "RB123456785GB", "48213377", SizeS)
			sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
			slot, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
			if err != nil {
				t.Fatal(err)
			}
			if tc.seenOpen {
				f.door(slot.Compartment, true)
			}
			// Power cut: the door's real state is now tc.openNow.
			f.hw.open[slot.Compartment] = tc.openNow
			f.restart()
			p := f.parcel("p-1")
			c := f.comp(slot.Compartment)
			if p.State != tc.wantState || (p.Compartment != 0) != tc.wantComp || c.Op != tc.wantOp {
				t.Fatalf("parcel %s in %d, compartment op %q", p.State, p.Compartment, c.Op)
			}
			if tc.outcome == "" {
				if n := f.countEvents(EvReconciled); n != 0 {
					t.Fatalf("%d reconciled events for an operation that goes on", n)
				}
			} else if e := f.lastEvent(EvReconciled); e.Op != OpDeposit || e.Outcome != tc.outcome || e.Compartment != slot.Compartment {
				t.Fatalf("reconciled event %+v, want deposit %s", e, tc.outcome)
			}
			if !tc.seenOpen && !tc.openNow {
				if c.Fault != FaultUnverified {
					t.Fatalf("an unknown deposit outcome must take the compartment out of service: %+v", c)
				}
				f.announce("p-2", "100000000002", "", SizeS)
				f.clock.Advance(2 * time.Second)
				if s, err := f.st.Scan(ctx, sid, "100000000002", SizeUnknown); !errors.Is(err, ErrNotLoggedIn) {
					t.Fatalf("sessions do not survive a restart: %+v %v", s, err)
				}
				sid = f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
				if s, err := f.st.Scan(ctx, sid, "100000000002", SizeUnknown); err != nil || s.Compartment == slot.Compartment {
					t.Fatalf("the unverified compartment was offered again: %+v %v", s, err)
				}
				if err := f.st.Resolve(ctx, slot.Compartment, true, "op-1", "test"); err != nil {
					t.Fatal(err)
				}
				if p := f.parcel("p-1"); p.State != StateDeposited || f.comp(slot.Compartment).Fault != "" {
					t.Fatalf("resolved present: %+v", p)
				}
			}
			if tc.openNow {
				f.door(slot.Compartment, false)
				if p := f.parcel("p-1"); p.State != StateDeposited {
					t.Fatalf("closing after restart: %s", p.State)
				}
			}
			if n, err := f.st.VerifyAudit(); err != nil || n == 0 {
				t.Fatalf("audit %d %v", n, err)
			}
		})
	}
}

func TestAuditTamperDetected(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	f.announce("p-2", "100000000002", "11112222", SizeS)
	if _, err := f.st.EnterCode(ctx, "00000000", testPhone); !errors.Is(err, ErrWrongCode) {
		t.Fatal(err)
	}
	n, err := f.st.VerifyAudit()
	if err != nil || n < 3 {
		t.Fatalf("%d %v", n, err)
	}
	cases := []struct {
		name   string
		tamper func(b *bolt.Bucket) error
	}{
		{"edited payload", func(b *bolt.Bucket) error {
			v := append([]byte(nil), b.Get(audit.Key(2))...)
			v[len(v)-2] ^= 1
			return b.Put(audit.Key(2), v)
		}},
		{"deleted entry", func(b *bolt.Bucket) error { return b.Delete(audit.Key(2)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := f.st.db().Update(func(tx *bolt.Tx) error { return tc.tamper(tx.Bucket(bucketAudit)) })
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.st.VerifyAudit(); !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("verify = %v, want ErrBroken", err)
			}
		})
	}
}

func TestAnnounceValidationAndConflicts(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	good := Announcement{ID: "p-1", Waybill: f.cloud.Waybill("RB123456785GB"), Size: SizeS}
	res, err := f.st.Announce(ctx, []Announcement{
		good,
		{ID: "", Waybill: good.Waybill, Size: SizeS},
		{ID: "p-2", Size: SizeS},
		{ID: "p-3", Waybill: f.cloud.Waybill("100000000003"), Size: 9},
		{ID: "p-4", Waybill: good.Waybill, Size: SizeS},
		{ID: "p-5", Waybill: f.cloud.Waybill("100000000005"), Size: SizeS, Hint: "0123456789"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != nil {
		t.Fatal(res[0])
	}
	for i := 1; i < len(res); i++ {
		if res[i] == nil {
			t.Fatalf("announcement %d accepted", i)
		}
	}
	if !errors.Is(res[4], ErrConflict) {
		t.Fatalf("%v", res[4])
	}
	// Re-announcing is idempotent.
	res, err = f.st.Announce(ctx, []Announcement{good})
	if err != nil || res[0] != nil {
		t.Fatal(err, res)
	}
	st, _ := f.st.Status()
	if st.Parcels[StateAnnounced] != 1 {
		t.Fatalf("%+v", st.Parcels)
	}
}

// TestStateDirHoldsNoPlaintext runs a deposit and a pickup with canary values and
// scans the state directory and the debug log through internal/canary.
func TestStateDirHoldsNoPlaintext(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	// 8 digits: a 4-digit PIN turns up by chance in hex ids and digests.
	canaries := map[string]string{"tracking": "RB987654326GB", "code": "73914682", "pin": "86420975", "badge": "CANARY-BADGE-7F3A-ABCDEFGHIJKLMNOPQR"}
	f.announce("p-1", canaries["tracking"], canaries["code"], SizeS)
	sid := f.courier("c-1", canaries["badge"], canaries["pin"], Rights{Deposit: true})
	f.deposit(sid, canaries["tracking"])
	if _, err := f.st.EnterCode(ctx, canaries["code"], testPhone); err != nil {
		t.Fatal(err)
	}
	f.st.Close()
	f.opt.Keyring.Close()
	h, err := canary.New(canaries)
	if err != nil {
		t.Fatal(err)
	}
	state := canary.Dir("state directory", canary.KindState, f.dir, canary.DirOptions{
		Require: []string{filepath.Base(f.opt.StorePath), privacy.KeyringFile, privacy.IdentityFile}})
	var logs canary.Record
	logs.Add("station log", f.logs.Bytes())
	log := logs.Surface("station log", canary.KindLog)
	// The canaries were used: the deposit went through and the code opened the door.
	log.Expect = []string{"type=deposited", "reason=pickup"}
	for _, s := range []canary.Surface{state, log} {
		if err := h.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	h.Check(t)
}

func TestResolveAbsentReleasesReservation(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	slot, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	if err != nil {
		t.Fatal(err)
	}
	f.restart() // the door was never seen open: outcome unknown
	wantErr(t, f.st.Resolve(ctx, 2, true, "op-1", "test"), ErrState)
	if err := f.st.Resolve(ctx, slot.Compartment, false, "op-1", "test"); err != nil {
		t.Fatal(err)
	}
	if p := f.parcel("p-1"); p.State != StateAnnounced || p.Compartment != 0 {
		t.Fatalf("%+v", p)
	}
	if c := f.comp(slot.Compartment); !c.Usable() {
		t.Fatalf("%+v", c)
	}
	sid = f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	if s, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown); err != nil || s.Compartment != slot.Compartment {
		t.Fatalf("after release the parcel deposits again: %+v %v", s, err)
	}
}

func TestOperatorOpenIsAuditedAndChangesNoParcel(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	c := f.deposit(sid, "RB123456785GB")
	if err := f.st.OpenCompartment(ctx, c, "op-7", "customer called"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.st.OpenCompartment(ctx, c, "op-7", "twice"), ErrBusy)
	f.openClose(c)
	if p := f.parcel("p-1"); p.State != StateDeposited {
		t.Fatal(p.State)
	}
	if f.countEvents(EvForced) != 0 {
		t.Fatal("an operator opening is not forced")
	}
	// The audit log names the operator by its pseudonym (ADR 0065), which the
	// station links back to it while the keys live.
	names, err := f.st.SubjectPseudonyms("op-7")
	if err != nil || len(names) != 1 {
		t.Fatalf("pseudonyms of op-7: %v, %v", names, err)
	}
	evs, _ := f.st.AuditRange(1, 1000, 1000)
	found := false
	for _, e := range evs {
		if e.Actor == "op-7" {
			t.Fatalf("audit entry %d names the operator in clear", e.Seq)
		}
		found = found || (e.Actor == names[0] && strings.Contains(e.Reason, "customer called"))
	}
	if !found {
		t.Fatal("operator and reason not audited")
	}
	wantErr(t, f.st.OpenCompartment(ctx, 99, "op-7", "x"), ErrUnknownCompartment)
}

func TestPolicyUpdatesAreVersioned(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	p := f.st.Policy()
	p.Version, p.Retention = 3, time.Hour
	if err := f.st.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.st.SetPolicy(ctx, p), ErrState)
	bad := p
	bad.Version, bad.Retention = 4, 0
	if err := f.st.SetPolicy(ctx, bad); err == nil {
		t.Fatal("accepted a zero retention")
	}
	f.restart()
	if got := f.st.Policy(); got.Version != 3 || got.Retention != time.Hour {
		t.Fatalf("a cloud policy survives a restart: %+v", got)
	}
	// Values a cloud policy does not set stay the configuration's: editing them in
	// the file still takes effect under a stored cloud policy.
	f.opt.Policy.SessionIdle, f.opt.Policy.HandoverTimeout = 7*time.Minute, 11*time.Minute
	f.restart()
	if got := f.st.Policy(); got.Version != 3 || got.Retention != time.Hour || got.SessionIdle != 7*time.Minute || got.HandoverTimeout != 11*time.Minute {
		t.Fatalf("after editing the file's session_idle and handover_timeout: %+v", got)
	}
}

func TestConfigChangesKeepParcels(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	c := f.deposit(sid, "RB123456785GB")
	f.opt.Compartments = slices.DeleteFunc(mixedSpecs(), func(s CompartmentSpec) bool { return s.ID == c || s.ID == 6 })
	f.restart()
	kept := f.comp(c)
	if !kept.Disabled || len(kept.Parcels) != 1 {
		t.Fatalf("a removed compartment with a parcel must stay, disabled: %+v", kept)
	}
	if len(f.st.Compartments()) != 5 {
		t.Fatalf("the empty removed compartment goes: %d", len(f.st.Compartments()))
	}
	f.hw.fail[c] = errors.New("no lock mapped") // the wiring left with the config
	if res, err := f.st.EnterCode(ctx, "48213377", testPhone); err != nil || len(res.Failed) != 1 {
		t.Fatalf("its parcel is reported for staff: %+v %v", res, err)
	}
	if p := f.parcel("p-1"); p.State != StateDeposited {
		t.Fatalf("a failed unlock leaves the parcel: %s", p.State)
	}
}

func TestDisabledCompartmentStillGivesBack(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	c := f.deposit(sid, "RB123456785GB")
	if err := f.st.SetEnabled(ctx, c, false, "hinge squeaks"); err != nil {
		t.Fatal(err)
	}
	if res, err := f.st.EnterCode(ctx, "48213377", testPhone); err != nil || len(res.Slots) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	f.openClose(c)
	if cc := f.comp(c); cc.Usable() || cc.DisabledReason != "hinge squeaks" {
		t.Fatalf("still disabled for new parcels: %+v", cc)
	}
}

// TestRemoteOpensSince: the remote openings of a period are read back from the audit
// log, oldest first, after a restart too; other reservations (a pickup) do not count.
func TestRemoteOpensSince(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	c := f.deposit(sid, "RB123456785GB")
	var opened []time.Time
	for range 3 {
		if err := f.st.OpenCompartment(ctx, c, "op-7", "service visit"); err != nil {
			t.Fatal(err)
		}
		opened = append(opened, f.clock.Now())
		f.openClose(c)
		f.clock.Advance(20 * time.Minute)
	}
	if _, err := f.st.EnterCode(ctx, "48213377", testPhone); err != nil { // a pickup: not a remote opening
		t.Fatal(err)
	}
	f.openClose(c)
	f.restart()
	for _, tc := range []struct {
		since time.Time
		want  []time.Time
	}{
		{opened[0].Add(-time.Second), opened},
		{opened[1].Add(-time.Second), opened[1:]},
		{f.clock.Now(), nil},
	} {
		got, err := f.st.RemoteOpensSince(tc.since)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("since %v: %v, want %v", tc.since, got, tc.want)
		}
		for i := range got {
			if !got[i].Equal(tc.want[i]) {
				t.Fatalf("since %v: %v, want %v", tc.since, got, tc.want)
			}
		}
	}
	// A clock stepped back: an opening logged before the step is still found behind a
	// later entry with an earlier time.
	last := f.clock.Now()
	if err := f.st.OpenCompartment(ctx, c, "op-7", "after the step"); err != nil {
		t.Fatal(err)
	}
	stepped := f.clock.Now()
	f.openClose(c)
	f.clock.Advance(-30 * time.Minute)
	f.announce("p-8", "RA000000005DE", "", SizeS) // logged at the stepped-back time
	got, err := f.st.RemoteOpensSince(last.Add(-10 * time.Minute))
	if err != nil || len(got) == 0 || !got[len(got)-1].Equal(stepped) {
		t.Fatalf("after a clock step back: %v %v, want the opening at %v", got, err, stepped)
	}
	f.clock.Advance(30 * time.Minute)
	opened = append(opened, stepped)
	// A damaged entry in the window counts as an opening now and is reported, and the
	// readable openings are still found.
	err = f.st.db().Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		k, v := b.Cursor().Last()
		return b.Put(k, append(v[:audit.MACSize:audit.MACSize], "{not json"...))
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err = f.st.RemoteOpensSince(opened[0].Add(-time.Second))
	if err == nil || len(got) != len(opened)+1 || !got[len(got)-1].Equal(f.clock.Now()) {
		t.Fatalf("with a damaged entry: %v %v", got, err)
	}
}

// TestHealthyFollowsTheTimerLoop: Healthy (what feeds the systemd watchdog) is false
// before the first timer pass, true while Run makes passes, and false once they stop;
// it is measured on the monotonic clock, so a wall-clock step cannot starve it.
func TestHealthyFollowsTheTimerLoop(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	if f.st.Healthy(time.Minute) {
		t.Fatal("healthy before any timer pass")
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.st.Run(runCtx, 5*time.Millisecond) }()
	deadline := time.Now().Add(5 * time.Second)
	for !f.st.Healthy(time.Second) {
		if time.Now().After(deadline) {
			t.Fatal("not healthy while Run makes passes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	if f.st.Healthy(20 * time.Millisecond) {
		t.Fatal("still healthy after the passes stopped")
	}
}
