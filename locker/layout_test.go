package locker

import (
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

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
	bucketOutbox        = []byte("outbox")
	metaAuditCheckpoint = []byte("audit_checkpoint")
)

func epochKey(e uint32) []byte { return binary.BigEndian.AppendUint32(nil, e) }

func timeKey(t time.Time, id ParcelID) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())), id...)
}

// commandGrace is how long the command log keeps an id past its expiry.
const commandGrace = store.CommandGrace

// db is the station's bbolt database.
func (s *Station) db() *bolt.DB { return s.store.(*boltstore.Store).DB() }
