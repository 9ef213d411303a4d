package courier

import (
	"os"
	"slices"
	"testing"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// memRecords is an in-memory Records, filed by key as the store files them.
type memRecords map[privacy.Digest]*store.CourierRecord

func (m memRecords) Courier(key privacy.Digest) (*store.CourierRecord, error) { return m[key], nil }

func (m memRecords) PutCourier(old, c *store.CourierRecord) error {
	if old != nil {
		delete(m, old.Key)
	}
	if c != nil {
		m[c.Key] = c
	}
	return nil
}

func (m memRecords) Couriers(fn func(*store.CourierRecord) error) error {
	for _, r := range m {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func newBook(t *testing.T) Book {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kr, err := privacy.OpenKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kr.Close() })
	return Book{Keyring: kr}
}

func digest(b byte) privacy.Digest { return privacy.Digest{b, 1, 2, 3} }

func put(t *testing.T, b Book, recs memRecords, epoch uint32, c Courier) uint32 {
	t.Helper()
	if _, err := b.Keyring.Key(epoch); err != nil {
		t.Fatal(err)
	}
	slot, err := b.NewSlot()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(recs, epoch, slot, Of(c)); err != nil {
		t.Fatal(err)
	}
	return slot
}

// TestRevokedCourierDoesNotOpen: a record is found by its badge in its epoch and opens
// while its slot's key exists; once Drop and Collect have run, the record (kept here as a
// copy left on flash would be) no longer opens, and the other courier's still does.
func TestRevokedCourierDoesNotOpen(t *testing.T) {
	b, recs := newBook(t), memRecords{}
	a := Courier{ID: "c-a", Badge: digest(1), Verifier: digest(2), Rights: Rights{Deposit: true}}
	put(t, b, recs, 10, a)
	put(t, b, recs, 10, Courier{ID: "c-b", Badge: digest(3), Verifier: digest(4)})
	r, err := b.Find(recs, a.Badge, []uint32{10})
	if err != nil || r == nil {
		t.Fatalf("Find: %v, %v", r, err)
	}
	if c, ok := b.Open(r); !ok || c.Courier() != a {
		t.Fatalf("Open: %+v, %v; want %+v", c, ok, a)
	}
	if err := b.Drop(recs, "c-a", privacy.Digest{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Collect(recs); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Open(r); ok {
		t.Fatal("a revoked courier's record still opens")
	}
	if got := slices.DeleteFunc(b.Keyring.Epochs(), func(e uint32) bool { return !IsSlot(e) }); len(got) != 1 {
		t.Fatalf("courier keys after the revoke: %v, want one", got)
	}
	if r, _ := b.Find(recs, digest(3), []uint32{10}); r == nil {
		t.Fatal("the other courier is gone")
	} else if _, ok := b.Open(r); !ok {
		t.Fatal("the other courier's record does not open")
	}
}

// TestSealedRecordIsBoundToItsRow: content sealed for one badge's row does not open
// when filed under another's, and a Put of the same badge replaces the old record.
func TestSealedRecordIsBoundToItsRow(t *testing.T) {
	b, recs := newBook(t), memRecords{}
	put(t, b, recs, 10, Courier{ID: "c-a", Badge: digest(1), Verifier: digest(2)})
	r, _ := b.Find(recs, digest(1), []uint32{10})
	moved := *r
	moved.Key = digest(9)
	if _, ok := b.Open(&moved); ok {
		t.Fatal("a record opened under another row's key")
	}
	put(t, b, recs, 10, Courier{ID: "c-new", Badge: digest(1), Verifier: digest(5)})
	if len(recs) != 1 {
		t.Fatalf("%d records after a second courier with the same badge, want 1", len(recs))
	}
}

// TestResealMovesRecordsToTheCurrentEpoch: after Reseal nothing is filed under the past
// epoch, so that its key can be destroyed, and the record is found and opens under the
// new one.
func TestResealMovesRecordsToTheCurrentEpoch(t *testing.T) {
	b, recs := newBook(t), memRecords{}
	put(t, b, recs, 10, Courier{ID: "c-a", Badge: digest(1), Verifier: digest(2)})
	if _, err := b.Keyring.Key(11); err != nil {
		t.Fatal(err)
	}
	old, err := Stale(recs, 11)
	if err != nil || len(old) != 1 {
		t.Fatalf("Stale: %d, %v", len(old), err)
	}
	if err := b.Reseal(recs, old, 11); err != nil {
		t.Fatal(err)
	}
	if old, _ := Stale(recs, 11); len(old) != 0 {
		t.Fatalf("%d records still in the past epoch", len(old))
	}
	if err := b.Keyring.Destroy(10); err != nil {
		t.Fatal(err)
	}
	r, _ := b.Find(recs, digest(1), b.Epochs())
	if r == nil {
		t.Fatal("not found in the current epoch")
	}
	if c, ok := b.Open(r); !ok || c.ID != "c-a" {
		t.Fatalf("Open after reseal: %+v, %v", c, ok)
	}
}

func TestValidate(t *testing.T) {
	ok := Courier{ID: "c", Badge: digest(1), Verifier: digest(2)}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Courier{{Badge: digest(1), Verifier: digest(2)}, {ID: "c", Verifier: digest(2)}, {ID: "c", Badge: digest(1)}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
