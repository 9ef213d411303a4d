package boltstore

import (
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/store"
)

// TestRevisionReplacedAndForgotten: a newer revision replaces the older one and its
// place in the expiry index, so that forgetting what the older one's time allows
// leaves the newer in force; it is forgotten CommandGrace after its own time
// (docs/adr/0055-command-ordering-and-jti-reuse.md).
func TestRevisionReplacedAndForgotten(t *testing.T) {
	st, _, _ := openTest(t)
	put := func(rev int64, until time.Time) {
		t.Helper()
		if err := st.Update(func(tx store.Tx) error { return tx.PutRevision("c/c-1", rev, until) }); err != nil {
			t.Fatal(err)
		}
	}
	read := func() (int64, bool) {
		t.Helper()
		var rev int64
		var ok bool
		if err := st.View(func(tx store.Tx) error {
			var err error
			rev, ok, err = tx.Revision("c/c-1")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return rev, ok
	}
	t1, t2 := testStart, testStart.Add(time.Hour)
	put(1, t1)
	put(2, t2)
	after := func(t time.Time) time.Time { return t.Add(store.CommandGrace + time.Second) }
	if !st.CommandExpiryDue(after(t2)) || st.CommandExpiryDue(after(t1)) {
		t.Fatal("CommandExpiryDue does not follow the revision's time")
	}
	if err := st.ForgetCommands(after(t1), 100); err != nil {
		t.Fatal(err)
	}
	if rev, ok := read(); !ok || rev != 2 {
		t.Fatalf("after the older revision's time: %d %v, want 2 kept", rev, ok)
	}
	if err := st.ForgetCommands(after(t2), 100); err != nil {
		t.Fatal(err)
	}
	if _, ok := read(); ok {
		t.Fatal("a revision kept past its time")
	}
	if err := st.Update(func(tx store.Tx) error { return tx.PutRevision("", 1, t1) }); err == nil {
		t.Fatal("an empty revision key was taken")
	}
}
