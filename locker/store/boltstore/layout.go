package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// Store layout (docs/adr/0003-store-layout.md). One bbolt file; every key is either an
// opaque id, a big-endian number or a sealed digest; every value is JSON except the audit
// entries (MAC || JSON [|| the sealed outbox form], locker/audit) and parcel records,
// which use the compact binary form in record.go.
var (
	bucketMeta         = []byte("meta")
	bucketCompartments = []byte("compartments") // id (2 BE) -> Compartment
	bucketParcels      = []byte("parcels")      // parcel id -> Parcel
	bucketCouriers     = []byte("couriers")     // schema 1 and 2 only: credential digest -> courier JSON, unsealed
	bucketBadges       = []byte("badges")       // sealed badge digest -> epoch (4 BE) || slot (4 BE) || sealed courier
	bucketIdxWaybill   = []byte("idx_waybill")  // sealed waybill digest -> parcel id
	bucketIdxCode      = []byte("idx_code")     // sealed verifier || parcel id -> nil
	bucketIdxExpiry    = []byte("idx_expiry")   // unix nanos (8 BE) || parcel id -> nil (deposited)
	bucketIdxKeep      = []byte("idx_keep")     // unix nanos || parcel id -> nil (announced)
	bucketIdxPurge     = []byte("idx_purge")    // unix nanos || parcel id -> nil (terminal)
	bucketEpochs       = []byte("epochs")       // epoch (4 BE) -> count of parcel and courier records sealed under it
	bucketAudit        = []byte("audit")        // seq (8 BE) -> MAC || event JSON [|| trailer: epoch (4 BE) || sealed event JSON, until delivered]
	bucketOutbox       = []byte("outbox")       // schema 1 to 3 only: seq (8 BE) -> epoch (4 BE) || sealed event JSON
	bucketCommands     = []byte("commands")     // id -> exp (8 BE unix nanos) || state (1) || reply
	bucketIdxCmdExp    = []byte("idx_cmdexp")   // exp (8 BE) || id -> nil
	bucketCmdDigest    = []byte("cmd_digest")   // id -> digest of the command's body (ADR 0055); made by Init in older stores
	bucketRevisions    = []byte("revisions")    // entity key -> revision (8 BE) || keep until (8 BE unix nanos) (ADR 0055)
	bucketIdxRevExp    = []byte("idx_revexp")   // keep until (8 BE) || entity key -> nil
	bucketSubjects     = []byte("subjects")     // HMAC(epoch key, subject id) -> epoch (4 BE) || slot (4 BE) (ADR 0065)

	allBuckets = [][]byte{bucketMeta, bucketCompartments, bucketParcels, bucketBadges,
		bucketIdxWaybill, bucketIdxCode, bucketIdxExpiry, bucketIdxKeep, bucketIdxPurge,
		bucketEpochs, bucketAudit, bucketCommands, bucketIdxCmdExp, bucketCmdDigest,
		bucketRevisions, bucketIdxRevExp, bucketSubjects}

	metaSchema          = []byte("schema")
	metaLockerID        = []byte("locker_id")
	metaEpochLength     = []byte("epoch_length")      // nanoseconds, big-endian: fixed at creation
	metaAuditCheckpoint = []byte("audit_checkpoint")  // sealed start of a pruned audit chain
	metaWireAcked       = []byte("outbox_wire_acked") // last wire seq acknowledged (8 BE)
	metaOutboxAcked     = []byte("outbox_acked")      // audit seq up to which events are delivered (8 BE; schema 4)
	metaIssuedFloor     = []byte("cmd_issued_floor")  // newest command iat seen (8 BE unix seconds; ADR 0055)
)

// schemaVersion is the layout this build writes; Init migrates older ones
// (migrate.go). 2: hints sealed (record version 2). 3: couriers sealed (bucket
// badges in place of couriers). 4: the outbox folded into the audit log (ADR 0060).
const schemaVersion = 4

// SchemaVersion is the newest store schema this build reads (and the one it writes):
// an update refuses a release that writes a newer one, which this build could not open
// after a rollback (firmware/update, ADR 0064).
const SchemaVersion = schemaVersion

func compKey(id uint16) []byte { return binary.BigEndian.AppendUint16(nil, id) }
func epochKey(e uint32) []byte { return binary.BigEndian.AppendUint32(nil, e) }

func timeKey(t time.Time, id string) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(t.UnixNano()))
	return append(k, id...)
}

func codeKey(v privacy.Digest, id string) []byte {
	k := append(make([]byte, 0, len(v)+len(id)), v[:]...)
	return append(k, id...)
}

// Init makes the buckets of a new store and records its schema and locker id, or checks
// them in an existing one (keys are derived from the locker id, so a store from another
// id is unreadable) and migrates an older schema, in the caller's transaction.
func (t *Tx) Init(lockerID string) (store.Migration, error) {
	for _, name := range allBuckets {
		if _, err := t.tx.CreateBucketIfNotExists(name); err != nil {
			return store.Migration{}, fmt.Errorf("locker: store: %w", err)
		}
	}
	meta := t.tx.Bucket(bucketMeta)
	v := meta.Get(metaSchema)
	if v == nil {
		if err := meta.Put(metaSchema, []byte{schemaVersion}); err != nil {
			return store.Migration{}, err
		}
		return store.Migration{}, meta.Put(metaLockerID, []byte(lockerID))
	}
	if len(v) != 1 || v[0] < 1 || v[0] > schemaVersion {
		return store.Migration{}, fmt.Errorf("locker: store schema %v, this build reads 1 to %d", v, schemaVersion)
	}
	if id := string(meta.Get(metaLockerID)); id != lockerID {
		return store.Migration{}, fmt.Errorf("locker: store belongs to locker %q, configured as %q", id, lockerID)
	}
	return t.migrate(int(v[0]))
}

// EpochLength records the epoch length of a new store (or of one written before the
// length was recorded), or checks it: a store's records and keys are numbered in the
// length it was created with, and another length would keep their keys past every
// purge (a crypto-shredding that never happens).
func (t *Tx) EpochLength(d time.Duration) error {
	meta := t.tx.Bucket(bucketMeta)
	switch v := meta.Get(metaEpochLength); {
	case v == nil:
		return meta.Put(metaEpochLength, binary.BigEndian.AppendUint64(nil, uint64(d)))
	case len(v) != 8:
		return fmt.Errorf("locker: stored epoch_length is %d bytes", len(v))
	case time.Duration(binary.BigEndian.Uint64(v)) != d:
		return fmt.Errorf("locker: policy epoch_length %s, but this store was created with %s: it cannot change for a store (it numbers the keys); set it back",
			d, time.Duration(binary.BigEndian.Uint64(v)))
	}
	return nil
}

// GetMeta decodes the value under k into v; false when there is none.
func (t *Tx) GetMeta(k store.Meta, v any) (bool, error) {
	return getJSON(t.tx.Bucket(bucketMeta), []byte(k), v)
}

// PutMeta stores v under k.
func (t *Tx) PutMeta(k store.Meta, v any) error {
	return putJSON(t.tx.Bucket(bucketMeta), []byte(k), v)
}

// Compartments calls fn with each stored compartment's JSON, in id order.
func (t *Tx) Compartments(fn func(v []byte) error) error {
	return t.tx.Bucket(bucketCompartments).ForEach(func(k, v []byte) error {
		if err := fn(v); err != nil {
			return fmt.Errorf("locker: compartment record %x: %w", k, err)
		}
		return nil
	})
}

// PutCompartment stores compartment id as the JSON of c.
func (t *Tx) PutCompartment(id uint16, c any) error {
	return putJSON(t.tx.Bucket(bucketCompartments), compKey(id), c)
}

// DeleteCompartment forgets compartment id.
func (t *Tx) DeleteCompartment(id uint16) error {
	return t.tx.Bucket(bucketCompartments).Delete(compKey(id))
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	return true, json.Unmarshal(data, v)
}
