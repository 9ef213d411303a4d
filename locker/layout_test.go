package locker

import (
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/eventlog"
	"github.com/lockerd/lockerd/locker/store"
	"github.com/lockerd/lockerd/locker/store/boltstore"
)

// Tests that look at or tamper with the store itself name its buckets and keys as
// docs/adr/0003-store-layout.md fixes them (locker/store/boltstore lays them out).
var (
	bucketMeta          = []byte("meta")
	bucketParcels       = []byte("parcels")
	bucketIdxKeep       = []byte("idx_keep")
	bucketEpochs        = []byte("epochs")
	bucketAudit         = []byte("audit")
	metaAuditCheckpoint = []byte("audit_checkpoint")
)

func epochKey(e uint32) []byte { return binary.BigEndian.AppendUint32(nil, e) }

func timeKey(t time.Time, id ParcelID) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())), id...)
}

// db is the station's bbolt database.
func (s *Station) db() *bolt.DB { return s.store.(*boltstore.Store).DB() }

// The outbox as the station wrote it, every event, for tests that read or drain it
// (the cloud link reads it through WireOutbox).

// outboxPending returns up to max events after seq after, in sequence order, decrypted.
func (s *Station) outboxPending(after uint64, max int) ([]Event, error) {
	var out []Event
	err := s.store.Outbox(after, max, func(seq uint64, payload []byte) error {
		var e Event
		if err := eventlog.Decode(&e)(seq, payload); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// outboxAck removes event seq, as the broker's acknowledgement would.
func (s *Station) outboxAck(seq uint64) error { return s.store.OutboxAck(seq) }

// outboxLen returns the number of events in the outbox.
func (s *Station) outboxLen() int {
	n := 0
	_ = s.store.View(func(t store.Tx) error {
		n = t.OutboxLen()
		return nil
	})
	return n
}
