package locker

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/subject"
)

// storeHolds reports whether the store file holds s anywhere: in a live record or in
// a page a later write freed.
func (f *fixture) storeHolds(s string) bool {
	f.t.Helper()
	data, err := os.ReadFile(f.opt.StorePath)
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Contains(string(data), s)
}

// subjectKeys counts the keyring's subject keys.
func (f *fixture) subjectKeys() int {
	n := 0
	for _, e := range f.opt.Keyring.Epochs() {
		if subject.IsSlot(e) {
			n++
		}
	}
	return n
}

// A courier's id is in no record at rest while its deposit is under way, across a
// power cut, nor in the parcel's record afterwards; the station still knows who it
// was (ADR 0065).
func TestSubjectSealedAtRest(t *testing.T) {
	const courierID = "courier-CANARY-REST-41"
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier(courierID, "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	f.clock.Advance(2 * time.Second)
	slot, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	if err != nil {
		t.Fatal(err)
	}
	f.door(slot.Compartment, true)
	if got := f.comp(slot.Compartment).OpActor; got != courierID {
		t.Fatalf("the deposit's actor %q, want the courier", got)
	}
	if f.storeHolds(courierID) {
		t.Fatal("the store names the courier of a deposit under way")
	}
	f.restart() // the door still open: the deposit goes on (Reconcile)
	if got := f.comp(slot.Compartment).OpActor; got != courierID {
		t.Fatalf("after a restart the deposit's actor reads %q, want the courier", got)
	}
	f.clock.Advance(2 * time.Second)
	f.door(slot.Compartment, false)
	if f.parcel("p-1").State != StateDeposited {
		t.Fatalf("p-1 %s", f.parcel("p-1").State)
	}
	if e := f.lastEvent(EvDeposited); e.Actor != courierID {
		t.Fatalf("deposited by %q, want the courier (the cloud is told who)", e.Actor)
	}
	if f.storeHolds(courierID) {
		t.Fatal("the store names the courier after the deposit")
	}
	names, err := f.st.SubjectPseudonyms(courierID)
	if err != nil || len(names) != 1 {
		t.Fatalf("pseudonyms %v %v", names, err)
	}
	evs, err := f.st.AuditRange(1, 1<<62, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Actor == names[0] {
			n++
		}
		if e.Type == EvCourierUpserted && e.Reason != names[0] {
			t.Fatalf("courier_upserted names %q in its reason, want the pseudonym", e.Reason)
		}
	}
	if n < 2 {
		t.Fatalf("%d audit entries name the courier's pseudonym, want the reservation and the deposit at least", n)
	}
}

// Erasure destroys a subject's keys in every epoch it was seen in, audited without
// naming it; another subject keeps its own. Shredding an epoch takes its subjects'
// keys with it.
func TestEraseSubjectAndShredding(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "100000000001", "48213377", SizeS)
	f.announce("p-2", "100000000002", "55501234", SizeS)
	sid := f.courier("c-erase", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	f.deposit(sid, "100000000001")
	f.clock.Advance(f.st.Policy().EpochLength) // a second epoch
	sid = f.courier("c-keep", "BADGE-2-ABCDEFGHIJKLMNOPQR", "1357", Rights{Deposit: true})
	f.deposit(sid, "100000000002")
	// c-erase again, in the second epoch: a login is not audited, a retrieval is;
	// its upsert again is, by pseudonym in the reason.
	f.courier("c-erase", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	before, _ := f.st.SubjectPseudonyms("c-erase")
	if len(before) != 2 || before[0] == before[1] {
		t.Fatalf("c-erase's pseudonyms %v, want one per epoch, different", before)
	}
	keys := f.subjectKeys()
	n, err := f.st.EraseSubject(ctx, "c-erase", CommandReason("operator op-dpo", "cmd-1"))
	if err != nil || n != 2 {
		t.Fatalf("erase: %d keys, %v; want 2", n, err)
	}
	// Two destroyed, one made: the operator who asked is audited by pseudonym too.
	if got := f.subjectKeys(); got != keys-2+1 {
		t.Fatalf("%d subject keys after the erasure, want %d", got, keys-1)
	}
	if after, _ := f.st.SubjectPseudonyms("c-erase"); len(after) != 0 {
		t.Fatalf("c-erase still linked: %v", after)
	}
	if got := f.parcel("p-1").Courier; got != "" {
		t.Fatalf("p-1 still names its depositor %q after the erasure", got)
	}
	if got := f.parcel("p-2").Courier; got != "c-keep" {
		t.Fatalf("p-2 names its depositor %q, want c-keep (not erased)", got)
	}
	if kept, _ := f.st.SubjectPseudonyms("c-keep"); len(kept) != 1 {
		t.Fatalf("c-keep's pseudonyms %v: an erasure took another subject's", kept)
	}
	e := f.lastEvent(model.EvSubjectErased)
	if e.Count != 2 || strings.Contains(e.Reason, "c-erase") || e.Actor != model.ActorCloud {
		t.Fatalf("the erasure's event %+v", e)
	}
	if _, err := f.st.EraseSubject(ctx, ActorRecipient, "x"); err == nil {
		t.Fatal("a role was erased as a subject")
	}
	// The recipients pick up; past purge_after the records go and the epochs' keys
	// with them, and every subject key of those epochs.
	for _, code := range []string{"48213377", "55501234"} {
		f.clock.Advance(f.st.Policy().CodeEntry.Delay)
		res, err := f.st.EnterCode(ctx, code, testPhone)
		if err != nil || len(res.Slots) != 1 {
			t.Fatalf("pickup: %+v %v", res, err)
		}
		f.openClose(res.Slots[0].Compartment)
	}
	// The cloud has every event (an undelivered one's sealed form keeps its epoch).
	if err := f.st.outboxAck(f.lastEvent(EvPickedUp).Seq); err != nil {
		t.Fatal(err)
	}
	for range 60 {
		f.tick(24 * time.Hour)
	}
	if got := f.subjectKeys(); got != 0 {
		t.Fatalf("%d subject keys outlived their epochs: keyring %v", got, f.opt.Keyring.Epochs())
	}
	if kept, _ := f.st.SubjectPseudonyms("c-keep"); len(kept) != 0 {
		t.Fatalf("c-keep still linked after its epochs were shredded: %v", kept)
	}
}
