package locker

import (
	"bytes"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/store/boltstore"
)

// The golden store (schema 1, written by an older build) is migrated in its first
// transaction: every parcel record is rewritten with its hint sealed, the unsealed
// courier records are gone, and TestGoldenStore reads back what the old build read
// (the hints included).
func TestGoldenStoreMigrated(t *testing.T) {
	st := openGolden(t, goldenDir)
	defer st.Close()
	var hints []string
	for _, id := range goldenParcels {
		if p, err := st.ParcelInfo(id); err == nil && p.Hint != "" {
			hints = append(hints, strings.TrimPrefix(p.Hint, "…"))
		}
	}
	if len(hints) == 0 {
		t.Fatal("no parcel of the golden store has a hint: nothing was migrated")
	}
	db := st.store.(*boltstore.Store).DB()
	err := db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("couriers")) != nil {
			t.Error("the unsealed couriers bucket survived")
		}
		if v := tx.Bucket([]byte("meta")).Get([]byte("schema")); !bytes.Equal(v, []byte{4}) {
			t.Errorf("schema %v after the migration, want 4", v)
		}
		if tx.Bucket([]byte("outbox")) != nil {
			t.Error("the outbox bucket survived its folding into the audit log (ADR 0060)")
		}
		return tx.Bucket([]byte("parcels")).ForEach(func(k, v []byte) error {
			if v[0] != 2 {
				t.Errorf("parcel %s: record version %d, want 2", k, v[0])
			}
			for _, h := range hints {
				if bytes.Contains(v, []byte(h)) {
					t.Errorf("parcel %s: a hint in clear", k)
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
