package boltstore

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/audit"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// writeLegacy stores p as a schema 1 build did: a version 1 record with the hint in
// clear, and schema 1 in the meta bucket.
func writeLegacy(t *testing.T, st *Store, p store.Record) {
	t.Helper()
	if err := st.db.Update(func(tx *bolt.Tx) error {
		v, err := encodeRecord(&p, []byte(p.Hint))
		if err != nil {
			return err
		}
		v[0] = recordVersionLegacy
		if err := tx.Bucket(bucketParcels).Put([]byte(p.ID), v); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaSchema, []byte{1})
	}); err != nil {
		t.Fatal(err)
	}
}

// A store of schema 1 migrates in Init's transaction: every clear hint is sealed, the
// schema moves on, and the parcels read as before.
func TestMigrateSchema1(t *testing.T) {
	st, kr, _ := openTest(t)
	p := sampleParcel()
	p.Hint = "…Q7ZK"
	if _, err := kr.Key(p.Epoch); err != nil {
		t.Fatal(err)
	}
	writeLegacy(t, st, p)
	if err := st.db.Update(func(tx *bolt.Tx) error { // a courier as schema 1 and 2 kept it
		b, err := tx.CreateBucketIfNotExists(bucketCouriers)
		if err != nil {
			return err
		}
		return b.Put(bytes.Repeat([]byte{7}, 32), []byte(`{"id":"c-1","credential":"0707","rights":{"deposit":true}}`))
	}); err != nil {
		t.Fatal(err)
	}
	if got := readRecord(t, st, p.ID); got.Hint != p.Hint {
		t.Fatalf("legacy record's hint %q, want %q", got.Hint, p.Hint)
	}
	var m store.Migration
	if err := st.Update(func(tx store.Tx) error {
		var err error
		m, err = tx.Init("LK-T")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if m.From != 1 || m.Hints != 1 || m.Couriers != 1 {
		t.Fatalf("migration %+v, want from 1 with one hint sealed and one courier dropped", m)
	}
	if err := st.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketParcels).Get([]byte(p.ID))
		if v[0] != recordVersion || bytes.Contains(v, []byte("Q7ZK")) {
			t.Fatalf("migrated record %x: version %d or clear hint", v, v[0])
		}
		if tx.Bucket(bucketCouriers) != nil {
			t.Fatal("the unsealed couriers bucket survived the migration")
		}
		if s := tx.Bucket(bucketMeta).Get(metaSchema); len(s) != 1 || s[0] != schemaVersion {
			t.Fatalf("schema after migration %v", s)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := readRecord(t, st, p.ID); got.Hint != p.Hint || got.Waybill != p.Waybill {
		t.Fatalf("migrated record %+v", got)
	}
	// A second start finds nothing to do.
	if err := st.Update(func(tx store.Tx) error {
		var err error
		m, err = tx.Init("LK-T")
		return err
	}); err != nil || m != (store.Migration{}) {
		t.Fatalf("second Init: %+v %v", m, err)
	}
}

// A schema newer than this build's is refused, never rewritten.
func TestInitRefusesNewerSchema(t *testing.T) {
	st, _, _ := openTest(t)
	if err := st.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaSchema, []byte{schemaVersion + 1})
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(func(tx store.Tx) error { _, err := tx.Init("LK-T"); return err }); err == nil {
		t.Fatal("opened a store of a newer schema")
	}
}

// A store of schema 3 kept undelivered events in a bucket of their own. Init folds it
// into the audit log (docs/adr/0060-outbox-in-the-audit-log.md): the same events are
// pending after it, each read as the outbox held it (the waybill digest too), the
// chain verifies unchanged, an entry whose audit entry was pruned is counted lost,
// and acknowledging drops the sealed forms without touching the chain.
func TestMigrateOutboxIntoAudit(t *testing.T) {
	st, kr, _ := openTest(t)
	const epoch = 7
	key, err := kr.Key(epoch)
	if err != nil {
		t.Fatal(err)
	}
	event := func(seq uint64) []byte { return fmt.Appendf(nil, `{"seq":%d,"type":"door_closed"}`, seq) }
	wire := func(seq uint64) []byte { // what the outbox held: entry 5 with a waybill digest
		if seq == 5 {
			return fmt.Appendf(nil, `{"seq":%d,"type":"deposited","waybill":"%s"}`, seq, strings.Repeat("ab", 32))
		}
		return event(seq)
	}
	// Schema 3: events 1..7, the first two pruned, 3 and 4 delivered (acknowledged and
	// removed from the outbox); 2 was never delivered before the pruning.
	if err := st.db.Update(func(tx *bolt.Tx) error {
		ab := tx.Bucket(bucketAudit)
		ob, err := tx.CreateBucket(bucketOutbox)
		if err != nil {
			return err
		}
		var h audit.Head
		for seq := uint64(1); seq <= 7; seq++ {
			if h, err = audit.Append(ab, st.auditKey, h, event(seq)); err != nil {
				return err
			}
			if seq == 2 || seq >= 5 {
				sealed := append(epochKey(epoch), privacy.SealBytes(key, wire(seq), audit.Key(seq))...)
				if err := ob.Put(audit.Key(seq), sealed); err != nil {
					return err
				}
			}
		}
		start, _, err := audit.Prune(ab, 2)
		if err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(metaAuditCheckpoint, audit.Checkpoint(st.auditKey, start)); err != nil {
			return err
		}
		if err := meta.Delete(metaOutboxAcked); err != nil {
			return err
		}
		return meta.Put(metaSchema, []byte{3})
	}); err != nil {
		t.Fatal(err)
	}
	var m store.Migration
	if err := st.Update(func(tx store.Tx) error {
		if _, err := tx.ResumeAudit(); err != nil {
			return err
		}
		m, err = tx.Init("LK-T")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if m.From != 3 || m.Outbox != 3 || m.OutboxLost != 1 {
		t.Fatalf("migration %+v, want from 3 with 3 events moved and 1 lost", m)
	}
	pending := func() map[uint64]string {
		t.Helper()
		got := map[uint64]string{}
		if err := st.Outbox(0, 100, func(seq uint64, payload []byte) error {
			got[seq] = string(payload)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := map[uint64]string{5: string(wire(5)), 6: string(wire(6)), 7: string(wire(7))}
	if got := pending(); !maps.Equal(got, want) {
		t.Fatalf("pending after the migration:\n%v\nwant\n%v", got, want)
	}
	if n, err := st.VerifyAudit(); err != nil || n != 5 {
		t.Fatalf("chain after the migration: %d entries, %v", n, err)
	}
	if err := st.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketOutbox) != nil {
			t.Error("the outbox bucket survived")
		}
		if s := tx.Bucket(bucketMeta).Get(metaSchema); len(s) != 1 || s[0] != schemaVersion {
			t.Errorf("schema after migration %v", s)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if dead, err := st.UnusedEpochs([]uint32{epoch}); err != nil || len(dead) != 0 {
		t.Fatalf("the epoch of undelivered events is unused: %v %v", dead, err)
	}
	if err := st.OutboxAck(7); err != nil {
		t.Fatal(err)
	}
	if got := pending(); len(got) != 0 {
		t.Fatalf("pending after the acknowledgement: %v", got)
	}
	if err := st.db.View(func(tx *bolt.Tx) error {
		audit.RangeTrailers(tx.Bucket(bucketAudit), 0, ^uint64(0), func(seq uint64, _, trailer []byte) bool {
			if len(trailer) > 0 {
				t.Errorf("entry %d keeps its sealed form after delivery", seq)
			}
			return true
		})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := st.VerifyAudit(); err != nil || n != 5 {
		t.Fatalf("chain after the acknowledgement: %d entries, %v", n, err)
	}
	if dead, err := st.UnusedEpochs([]uint32{epoch}); err != nil || len(dead) != 1 {
		t.Fatalf("the epoch is still held after delivery: %v %v", dead, err)
	}
}

// Retention bounds the outbox (ADR 0060): pruning audit entries not yet delivered
// moves the delivered mark past them, so they are neither read nor counted, and a chain
// that starts again below the mark (a damaged checkpoint) takes the mark back with it.
func TestPruneMovesTheDeliveredMark(t *testing.T) {
	st, _, _ := openTest(t)
	appendN := func(n int) {
		t.Helper()
		if err := st.Update(func(tx store.Tx) error {
			for range n {
				if err := tx.Append([]byte(`{"type":"door_closed"}`), []byte(`{"type":"door_closed"}`), 1); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	outboxLen := func() (n int) {
		t.Helper()
		_ = st.View(func(tx store.Tx) error { n = tx.OutboxLen(); return nil })
		return n
	}
	appendN(5)
	if n := outboxLen(); n != 5 {
		t.Fatalf("%d undelivered, want 5", n)
	}
	if err := st.Update(func(tx store.Tx) error { _, _, err := tx.PruneAudit(3); return err }); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	if err := st.Outbox(0, 100, func(seq uint64, _ []byte) error { seqs = append(seqs, seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 2 || seqs[0] != 4 || outboxLen() != 2 {
		t.Fatalf("after pruning up to 3: pending %v, %d counted; want 4 and 5", seqs, outboxLen())
	}
	// The chain starts again at 1 (its checkpoint damaged and every entry gone): the
	// mark at 3 would hide the next three events.
	if err := st.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketAudit); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketAudit); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaAuditCheckpoint, []byte("damaged"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(func(tx store.Tx) error {
		damaged, err := tx.ResumeAudit()
		if damaged == nil {
			t.Error("the damaged checkpoint went unnoticed")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	appendN(2)
	if n := outboxLen(); n != 2 {
		t.Fatalf("after the chain started again: %d undelivered, want 2", n)
	}
}
