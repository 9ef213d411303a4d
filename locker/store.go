package locker

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/audit"
	"github.com/lockerd/lockerd/locker/privacy"
)

// Store layout (docs/adr/0003-store-layout.md). One bbolt file; every key is either an
// opaque id, a big-endian number or a sealed digest; every value is JSON except the audit
// entries (MAC || JSON), the outbox (epoch || AEAD-sealed JSON) and parcel records,
// which use the compact binary form in record.go.
var (
	bucketMeta         = []byte("meta")
	bucketCompartments = []byte("compartments") // id (2 BE) -> Compartment
	bucketParcels      = []byte("parcels")      // parcel id -> Parcel
	bucketCouriers     = []byte("couriers")     // credential digest -> Courier
	bucketIdxWaybill   = []byte("idx_waybill")  // sealed waybill digest -> parcel id
	bucketIdxCode      = []byte("idx_code")     // sealed verifier || parcel id -> nil
	bucketIdxExpiry    = []byte("idx_expiry")   // unix nanos (8 BE) || parcel id -> nil (deposited)
	bucketIdxKeep      = []byte("idx_keep")     // unix nanos || parcel id -> nil (announced)
	bucketIdxPurge     = []byte("idx_purge")    // unix nanos || parcel id -> nil (terminal)
	bucketEpochs       = []byte("epochs")       // epoch (4 BE) -> count of parcel records sealed under it
	bucketAudit        = []byte("audit")        // seq (8 BE) -> MAC || event JSON
	bucketOutbox       = []byte("outbox")       // seq (8 BE) -> epoch (4 BE) || sealed event JSON

	allBuckets = [][]byte{bucketMeta, bucketCompartments, bucketParcels, bucketCouriers,
		bucketIdxWaybill, bucketIdxCode, bucketIdxExpiry, bucketIdxKeep, bucketIdxPurge,
		bucketEpochs, bucketAudit, bucketOutbox, bucketCommands, bucketIdxCmdExp}

	metaSchema          = []byte("schema")
	metaPolicy          = []byte("policy")
	metaCodeThrottle    = []byte("throttle_code")
	metaCourierThrottle = []byte("throttle_courier")
	metaLockerID        = []byte("locker_id")
	metaEpochLength     = []byte("epoch_length") // nanoseconds, big-endian: fixed at creation
)

const schemaVersion = 1

type boltTx = bolt.Tx

func compKey(id CompartmentID) []byte { return binary.BigEndian.AppendUint16(nil, uint16(id)) }
func epochKey(e uint32) []byte        { return binary.BigEndian.AppendUint32(nil, e) }

func timeKey(t time.Time, id ParcelID) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(t.UnixNano()))
	return append(k, id...)
}

func codeKey(v privacy.Digest, id ParcelID) []byte {
	k := append(make([]byte, 0, len(v)+len(id)), v[:]...)
	return append(k, id...)
}

// newID returns a random 128-bit id in hex, for events, sessions and unannounced parcels.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("locker: no randomness: " + err.Error()) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// indexEntry is one row that a parcel record implies in an index bucket.
type indexEntry struct {
	bucket []byte
	key    []byte
	value  []byte
}

// indexes lists the index rows that p implies. Keeping indexes derived from the record
// (rather than maintained by each flow) means a transition cannot forget one.
func (p *Parcel) indexes() []indexEntry {
	if p == nil {
		return nil
	}
	out := []indexEntry{{bucketIdxWaybill, append([]byte(nil), p.Waybill[:]...), []byte(p.ID)}}
	if !p.Verifier.IsZero() && (p.State == StateAnnounced || p.State == StateDeposited) {
		out = append(out, indexEntry{bucketIdxCode, codeKey(p.Verifier, p.ID), nil})
	}
	switch {
	case p.State == StateDeposited && !p.ExpiresAt.IsZero():
		out = append(out, indexEntry{bucketIdxExpiry, timeKey(p.ExpiresAt, p.ID), nil})
	case p.State == StateAnnounced && !p.KeepUntil.IsZero() && p.Compartment == 0:
		// Not while a deposit is under way (its door decides): the row comes back if
		// the deposit is undone.
		out = append(out, indexEntry{bucketIdxKeep, timeKey(p.KeepUntil, p.ID), nil})
	case p.State.Terminal() && !p.PurgeAt.IsZero():
		out = append(out, indexEntry{bucketIdxPurge, timeKey(p.PurgeAt, p.ID), nil})
	}
	return out
}

// txn is one state transition: a bbolt write transaction plus the in-memory changes that
// become visible only if it commits.
type txn struct {
	s      *Station
	tx     *bolt.Tx
	now    time.Time
	comps  map[CompartmentID]*Compartment
	events []Event
	head   audit.Head
	seq    uint64
	epochs map[uint32]int64 // reference count changes, written once when fn returns
}

// comp returns the transaction's copy of compartment id (nil when unknown).
func (t *txn) comp(id CompartmentID) *Compartment {
	if c, ok := t.comps[id]; ok {
		return c
	}
	c, ok := t.s.comps[id]
	if !ok {
		return nil
	}
	c = c.clone()
	t.comps[id] = c
	return c
}

func (t *txn) parcel(id ParcelID) (*Parcel, error) { return readParcel(t.tx, id) }

// putParcel stores p (nil deletes) replacing old (nil when new), and moves its index rows
// and its epoch's reference count along.
func (t *txn) putParcel(old, p *Parcel) error {
	if p != nil {
		p.Updated = t.now
	}
	next := map[string]bool{}
	for _, e := range p.indexes() {
		next[string(e.bucket)+"\x00"+string(e.key)] = true
	}
	for _, e := range old.indexes() {
		if !next[string(e.bucket)+"\x00"+string(e.key)] {
			if err := t.tx.Bucket(e.bucket).Delete(e.key); err != nil {
				return err
			}
		}
	}
	// A store written before deposits under way lost their keep-until row may hold
	// one that old.indexes no longer names: it goes too.
	if old != nil && old.State == StateAnnounced && !old.KeepUntil.IsZero() && old.Compartment != 0 {
		if k := timeKey(old.KeepUntil, old.ID); !next[string(bucketIdxKeep)+"\x00"+string(k)] {
			if err := t.tx.Bucket(bucketIdxKeep).Delete(k); err != nil {
				return err
			}
		}
	}
	for _, e := range p.indexes() {
		if err := t.tx.Bucket(e.bucket).Put(e.key, e.value); err != nil {
			return err
		}
	}
	switch {
	case old == nil && p != nil:
		if err := t.epochRef(p.Epoch, +1); err != nil {
			return err
		}
	case old != nil && p == nil:
		if err := t.epochRef(old.Epoch, -1); err != nil {
			return err
		}
		return t.tx.Bucket(bucketParcels).Delete([]byte(old.ID))
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucketParcels).Put([]byte(p.ID), b)
}

// epochRef counts a parcel record in or out of epoch e. The changes of a transition are
// summed and written once (putEpochs): a run of announcements touches the counter once,
// not once a parcel.
func (t *txn) epochRef(e uint32, delta int64) error {
	if t.epochs == nil {
		t.epochs = map[uint32]int64{}
	}
	t.epochs[e] += delta
	return nil
}

func (t *txn) putEpochs() error {
	b := t.tx.Bucket(bucketEpochs)
	for e, delta := range t.epochs {
		if delta == 0 {
			continue
		}
		var n int64
		if v := b.Get(epochKey(e)); len(v) == 8 {
			n = int64(binary.BigEndian.Uint64(v))
		}
		n += delta
		if n < 0 {
			return fmt.Errorf("locker: epoch %d reference count below zero", e)
		}
		if err := b.Put(epochKey(e), binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
			return err
		}
	}
	return nil
}

// emit records e in the audit chain and the outbox, in this transaction.
func (t *txn) emit(e Event) error {
	t.seq++
	e.Seq, e.ID, e.At = t.seq, newID(), t.now
	payload, err := json.Marshal(e)
	if err != nil {
		return err
	}
	// The audit log is kept for years and never shredded: it gets no waybill digest.
	auditPayload := payload
	if e.Waybill != nil {
		logged := e
		logged.Waybill = nil
		if auditPayload, err = json.Marshal(logged); err != nil {
			return err
		}
	}
	h, err := audit.Append(t.tx.Bucket(bucketAudit), t.s.keys.AuditKey(), t.head, auditPayload)
	if err != nil {
		return err
	}
	t.head = h
	ep := t.s.epochOf(t.now)
	key, err := t.s.keyring.Key(ep)
	if err != nil {
		return fmt.Errorf("locker: epoch key: %w", err)
	}
	seqKey := audit.Key(e.Seq)
	sealed := append(epochKey(ep), privacy.SealBytes(key, payload, seqKey)...)
	// No epoch reference count for outbox entries: they live minutes, and the shredder
	// checks the (short) outbox itself, which keeps this hot path one page lighter.
	ob := t.tx.Bucket(bucketOutbox)
	ob.FillPercent = 1.0 // append-only keys, as in the audit log
	if err := ob.Put(seqKey, sealed); err != nil {
		return err
	}
	t.events = append(t.events, e)
	return nil
}

func (t *txn) putComps() error {
	b := t.tx.Bucket(bucketCompartments)
	for id, c := range t.comps {
		v, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if err := b.Put(compKey(id), v); err != nil {
			return err
		}
	}
	return nil
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

// update runs fn as one transition: it commits to disk first and only then makes the new
// compartment states, audit head and event sequence visible and tells the observer.
// Callers hold s.mu.
func (s *Station) update(fn func(t *txn) error) error {
	t := &txn{s: s, now: s.clock.Now(), comps: map[CompartmentID]*Compartment{}, head: s.head, seq: s.seq}
	err := s.db.Update(func(tx *bolt.Tx) error {
		t.tx = tx
		if err := fn(t); err != nil {
			return err
		}
		if err := t.putEpochs(); err != nil {
			return err
		}
		return t.putComps()
	})
	if err != nil {
		return err
	}
	for id, c := range t.comps {
		s.comps[id] = c
	}
	s.head, s.seq = t.head, t.seq
	for _, e := range t.events {
		s.log.Info("event", eventAttrs(e)...)
		if s.observer != nil {
			s.observer(e)
		}
	}
	if len(t.events) > 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

func eventAttrs(e Event) []any {
	a := []any{"seq", e.Seq, "type", string(e.Type)}
	if e.Parcel != "" {
		a = append(a, "parcel", string(e.Parcel))
	}
	if e.Compartment != 0 {
		a = append(a, "compartment", int(e.Compartment), "gen", e.Generation)
	}
	if e.Actor != "" {
		a = append(a, "actor", e.Actor)
	}
	if e.Reason != "" {
		a = append(a, "reason", e.Reason)
	}
	if len(e.Report) > 0 {
		a = append(a, "report", string(e.Report))
	}
	return a
}

// view runs fn in a read-only transaction.
func (s *Station) view(fn func(tx *bolt.Tx) error) error { return s.db.View(fn) }

// parcelsByPrefix returns the ids under a key prefix of an index whose keys are
// prefix || parcel id.
func parcelsByPrefix(b *bolt.Bucket, prefix []byte) []ParcelID {
	var ids []ParcelID
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, ParcelID(k[len(prefix):]))
	}
	return ids
}

func readParcel(tx *bolt.Tx, id ParcelID) (*Parcel, error) {
	v := tx.Bucket(bucketParcels).Get([]byte(id))
	if v == nil {
		return nil, ErrUnknownParcel
	}
	p := new(Parcel)
	if err := p.UnmarshalBinary(v); err != nil {
		return nil, fmt.Errorf("locker: parcel record %q: %w", id, err)
	}
	return p, nil
}
