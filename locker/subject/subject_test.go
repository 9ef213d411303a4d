package subject

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// rows is an in-memory Records.
type rows struct {
	subjects map[privacy.Digest][2]uint32
	parcels  map[string]*store.Record
}

func newRows() *rows {
	return &rows{subjects: map[privacy.Digest][2]uint32{}, parcels: map[string]*store.Record{}}
}

func (r *rows) Subject(idx privacy.Digest) (uint32, uint32, bool, error) {
	v, ok := r.subjects[idx]
	return v[0], v[1], ok, nil
}
func (r *rows) PutSubject(idx privacy.Digest, e, s uint32) error {
	r.subjects[idx] = [2]uint32{e, s}
	return nil
}
func (r *rows) DeleteSubject(idx privacy.Digest) error { delete(r.subjects, idx); return nil }
func (r *rows) Subjects(fn func(privacy.Digest, uint32, uint32) error) error {
	for k, v := range r.subjects {
		if err := fn(k, v[0], v[1]); err != nil {
			return err
		}
	}
	return nil
}
func (r *rows) Parcels(fn func(*store.Record) error) error {
	for _, p := range r.parcels {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}
func (r *rows) PutParcel(_, p *store.Record) error { r.parcels[p.ID] = p; return nil }

func book(t *testing.T) Book {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kr, err := privacy.OpenKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kr.Close() })
	return Book{Keyring: kr}
}

func TestPseudonymsPerSubjectAndEpoch(t *testing.T) {
	b, r := book(t), newRows()
	p := func(e uint32, id string) string {
		t.Helper()
		s, err := b.Pseudonym(r, e, id)
		if err != nil || !IsPseudonym(s) || strings.Contains(s, id) {
			t.Fatalf("pseudonym of %s in %d: %q %v", id, e, s, err)
		}
		return s
	}
	a1, a1again, b1, a2 := p(1, "c-1"), p(1, "c-1"), p(1, "c-2"), p(2, "c-1")
	if a1 != a1again {
		t.Fatal("one subject, one epoch: two pseudonyms")
	}
	if a1 == b1 || a1 == a2 {
		t.Fatalf("pseudonyms shared: %s %s %s", a1, b1, a2)
	}
	if got, _ := b.Link(r, "c-1", []uint32{2, 1}); len(got) != 2 || got[0] != a2 || got[1] != a1 {
		t.Fatalf("link %v", got)
	}
	slots, err := b.Erase(r, "c-1", []uint32{1, 2})
	if err != nil || len(slots) != 2 {
		t.Fatalf("erase: %v %v", slots, err)
	}
	if err := b.Destroy(slots); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Link(r, "c-1", []uint32{1, 2}); len(got) != 0 {
		t.Fatalf("erased subject still linked: %v", got)
	}
	if got, _ := b.Link(r, "c-2", []uint32{1}); len(got) != 1 || got[0] != b1 {
		t.Fatalf("another subject lost: %v", got)
	}
	if again := p(1, "c-1"); again == a1 {
		t.Fatal("an erased subject seen again got its old pseudonym")
	}
}

func TestCollectAfterShredding(t *testing.T) {
	b, r := book(t), newRows()
	for _, id := range []string{"c-1", "op-1"} {
		if _, err := b.Pseudonym(r, 7, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Pseudonym(r, 8, "c-1"); err != nil {
		t.Fatal(err)
	}
	// A key made for a transaction that did not commit: no row names it.
	orphan, _, err := b.newSlot()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Keyring.Destroy(7); err != nil { // epoch 7 shredded
		t.Fatal(err)
	}
	stale, slots, err := b.Collect(r)
	if err != nil || len(stale) != 2 || len(slots) != 3 {
		t.Fatalf("collect: %d stale rows, slots %v, %v; want 2 rows, their 2 keys and the orphan", len(stale), slots, err)
	}
	if !contains(slots, orphan) {
		t.Fatalf("the orphan key %d not collected: %v", orphan, slots)
	}
	if err := Drop(r, stale); err != nil {
		t.Fatal(err)
	}
	if err := b.Destroy(slots); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Link(r, "c-1", []uint32{8}); len(got) != 1 {
		t.Fatalf("epoch 8's pseudonym went with epoch 7: %v", got)
	}
}

func contains(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestAuditFormNamesNobody(t *testing.T) {
	b, r := book(t), newRows()
	cases := []struct {
		in    model.Event
		names []string
		kept  string // a part of the reason that must stay
	}{
		{model.Event{Type: model.EvReserved, Actor: "c-77"}, []string{"c-77"}, ""},
		{model.Event{Type: model.EvCourierRevoked, Actor: model.ActorCloud, Reason: "c-77"}, []string{"c-77"}, ""},
		{model.Event{Type: model.EvCompartmentDisabled, Reason: model.CommandReason("operator op-9", "cmd-1")}, []string{"op-9"}, "; command cmd-1"},
		{model.Event{Type: model.EvReserved, Actor: "op-9", Reason: "operator: customer called; command cmd-2"}, []string{"op-9"}, "operator: customer called; command cmd-2"},
	}
	for _, tc := range cases {
		out, changed, err := b.AuditForm(r, 3, tc.in)
		if err != nil || !changed {
			t.Fatalf("%+v: changed %v, %v", tc.in, changed, err)
		}
		for _, n := range tc.names {
			if out.Actor == n || strings.Contains(out.Reason, n) && !strings.Contains(tc.kept, n) {
				t.Fatalf("%+v kept %s: %+v", tc.in, n, out)
			}
		}
		if tc.kept != "" && !strings.Contains(out.Reason, tc.kept) {
			t.Fatalf("reason %q lost %q", out.Reason, tc.kept)
		}
	}
	for _, role := range []string{model.ActorRecipient, model.ActorSystem, model.ActorStaff, model.ActorCloud, ""} {
		if _, changed, _ := b.AuditForm(r, 3, model.Event{Type: model.EvPickedUp, Actor: role}); changed {
			t.Fatalf("role %q pseudonymised", role)
		}
	}
}

func TestSealedActor(t *testing.T) {
	b := book(t)
	s, err := b.SealActor(5, 12, "c-secret-courier")
	if err != nil || strings.Contains(s, "c-secret-courier") {
		t.Fatalf("sealed %q %v", s, err)
	}
	if got := b.OpenActor(12, s); got != "c-secret-courier" {
		t.Fatalf("opened %q", got)
	}
	if got := b.OpenActor(13, s); got != "" {
		t.Fatalf("opened in another compartment: %q", got)
	}
	if got := b.OpenActor(12, "recipient"); got != "recipient" {
		t.Fatalf("a role in clear reads %q", got)
	}
	if err := b.Keyring.Destroy(5); err != nil {
		t.Fatal(err)
	}
	if got := b.OpenActor(12, s); got != "" {
		t.Fatalf("opened after its epoch was shredded: %q", got)
	}
}

func TestEraseForgetsTheDepositor(t *testing.T) {
	b, r := book(t), newRows()
	r.parcels["p-1"] = &store.Record{ID: "p-1", Courier: "c-1"}
	r.parcels["p-2"] = &store.Record{ID: "p-2", Courier: "c-2"}
	if _, err := b.Erase(r, "c-1", nil); err != nil {
		t.Fatal(err)
	}
	if r.parcels["p-1"].Courier != "" || r.parcels["p-2"].Courier != "c-2" {
		t.Fatalf("depositors after erasing c-1: %q %q", r.parcels["p-1"].Courier, r.parcels["p-2"].Courier)
	}
}
