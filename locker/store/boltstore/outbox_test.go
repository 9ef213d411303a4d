package boltstore

import (
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/audit"
	"github.com/lockerd/lockerd/locker/store"
)

// The outbox is read from the audit log, and the link signs what it sends (ADR 0050):
// an undelivered event whose payload was changed on the card, or removed from the
// chain, is refused with audit.ErrBroken instead of being sent (ADR 0060). Delivered
// and pruned entries before the mark are not read.
func TestOutboxRefusesATamperedEvent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(b *bolt.Bucket) error
	}{
		{"payload changed, MAC kept", func(b *bolt.Bucket) error {
			v := b.Get(audit.Key(4))
			forged := append(append([]byte(nil), v[:audit.MACSize]...), `{"type":"picked_up","parcel":"p-9"}`...)
			return b.Put(audit.Key(4), forged)
		}},
		{"entry removed", func(b *bolt.Bucket) error { return b.Delete(audit.Key(4)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, _ := openTest(t)
			if err := st.Update(func(tx store.Tx) error {
				for range 5 {
					if err := tx.Append([]byte(`{"type":"door_closed"}`), []byte(`{"type":"door_closed"}`), 1); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := st.OutboxAck(2); err != nil {
				t.Fatal(err)
			}
			read := func() (int, error) {
				n := 0
				err := st.Outbox(0, 100, func(uint64, []byte) error { n++; return nil })
				return n, err
			}
			if n, err := read(); err != nil || n != 3 {
				t.Fatalf("before tampering: %d events, %v", n, err)
			}
			if err := st.db.Update(func(tx *bolt.Tx) error { return tc.tamper(tx.Bucket(bucketAudit)) }); err != nil {
				t.Fatal(err)
			}
			if _, err := read(); !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("a tampered undelivered event read with %v, want audit.ErrBroken", err)
			}
			w := st.Wire(func([]byte) (bool, error) { return true, nil })
			if err := w.Pending(0, 100, func(uint64, uint64, []byte) error { return nil }); !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("the wire view read a tampered event: %v", err)
			}
		})
	}
}
