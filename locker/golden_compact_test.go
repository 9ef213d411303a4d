package locker

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

// compactStore copies the bbolt store at from into a new file at to, page by page
// rewritten but key for key the same: a station's store is grown in large steps, and a
// fixture need not carry them.
func compactStore(t *testing.T, from, to string) {
	t.Helper()
	src, err := bolt.Open(from, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := bolt.Open(to, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bolt.Compact(dst, src, 0); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
