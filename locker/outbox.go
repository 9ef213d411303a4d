package locker

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/audit"
	"github.com/lockerd/lockerd/locker/privacy"
)

// OutboxPending returns up to max events after seq after, in sequence order, decrypted
// for sending. Entries stay until OutboxAck.
func (s *Station) OutboxPending(after uint64, max int) ([]Event, error) {
	var out []Event
	err := s.view(func(tx *boltTx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.Seek(audit.Key(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			e, err := s.openOutbox(k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// OutboxAck removes the event seq after the broker acknowledged it. Acking an event that
// is already gone is not an error: acks may repeat after a reconnect.
func (s *Station) OutboxAck(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.db.Update(func(tx *boltTx) error {
		b := tx.Bucket(bucketOutbox)
		k := audit.Key(seq)
		v := b.Get(k)
		if v == nil {
			return nil
		}
		return b.Delete(k)
	})
}

// OutboxLen returns the number of events waiting for the broker.
func (s *Station) OutboxLen() int {
	n := 0
	_ = s.view(func(tx *boltTx) error {
		n = tx.Bucket(bucketOutbox).Stats().KeyN
		return nil
	})
	return n
}

// OutboxWake is signalled (without blocking) after each transition that added events.
func (s *Station) OutboxWake() <-chan struct{} { return s.wake }

// VerifyAudit walks the audit chain and returns the number of entries, or an error
// wrapping audit.ErrBroken.
func (s *Station) VerifyAudit() (int, error) {
	var n int
	err := s.view(func(tx *boltTx) error {
		start, err := auditStart(tx, s.keys.AuditKey())
		if err != nil {
			return err
		}
		return verifyFrom(tx, s.keys.AuditKey(), start, &n)
	})
	return n, err
}

// verifyFrom verifies the chain from its start; a checkpoint with no entry after it
// is a wiped log (every pruning pass appends its own entry).
func verifyFrom(tx *boltTx, key []byte, start audit.Head, n *int) error {
	_, count, err := audit.VerifyFrom(tx.Bucket(bucketAudit), key, start)
	*n = count
	if err == nil && count == 0 && start.Seq > 0 {
		return fmt.Errorf("%w: no entry after the checkpoint at %d", audit.ErrBroken, start.Seq)
	}
	return err
}

// AuditRange returns the audit entries with sequence numbers from..to, at most max.
func (s *Station) AuditRange(from, to uint64, max int) ([]Event, error) {
	var out []Event
	err := s.view(func(tx *boltTx) error {
		var ferr error
		audit.Range(tx.Bucket(bucketAudit), from, to, func(seq uint64, payload []byte) bool {
			var e Event
			if ferr = json.Unmarshal(payload, &e); ferr != nil {
				return false
			}
			out = append(out, e)
			return len(out) < max
		})
		return ferr
	})
	return out, err
}

// stepMargin is how far past the start of a window RemoteOpensSince reads on, for
// openings logged after a clock step back.
const stepMargin = time.Hour

// RemoteOpensSince returns when each remote opening (OpenCompartment) since since was
// reserved, oldest first, read from the audit log, so that a rate limit on remote
// openings survives a restart. The log is read from its newest entry back to the first
// one older than since by stepMargin (entries are in commit order: a clock stepped back
// by more than that can end the scan early, which only lets the limit forget openings). An entry that does not
// decode counts as an opening now, the safe side, and is reported in the error, which
// comes with the openings found.
func (s *Station) RemoteOpensSince(since time.Time) ([]time.Time, error) {
	var out []time.Time
	err := s.view(func(tx *boltTx) error {
		var ferr error
		audit.Backward(tx.Bucket(bucketAudit), func(seq uint64, payload []byte) bool {
			var e Event
			if err := json.Unmarshal(payload, &e); err != nil {
				// Unreadable: count it as an opening (the limit errs on the safe side)
				// and read on, rather than keep the station from starting.
				ferr = errors.Join(ferr, fmt.Errorf("locker: audit entry %d: %w", seq, err))
				out = append(out, s.clock.Now())
				return true
			}
			if e.At.Before(since.Add(-stepMargin)) {
				return false
			}
			if e.At.Before(since) {
				return true // read on a little: a clock stepped back leaves later entries with earlier times
			}
			if e.Type == EvReserved && e.Op == OpOperator {
				out = append(out, e.At)
			}
			return true
		})
		return ferr
	})
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out, err
}

// VerifyAuditFile verifies the audit chain of a station store that is not open,
// read-only, with the station's keys.
func VerifyAuditFile(path string, keys *privacy.Keys) (int, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return 0, fmt.Errorf("locker: open store: %w", storeOpenErr(err))
	}
	defer db.Close()
	var n int
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil || tx.Bucket(bucketMeta) == nil {
			return errors.New("locker: store has no audit log")
		}
		start, err := auditStart(tx, keys.AuditKey())
		if err != nil {
			return err
		}
		return verifyFrom(tx, keys.AuditKey(), start, &n)
	})
	return n, err
}

// The cloud link sends only the events its protocol has words for; the others (an
// announcement's count, a reservation, a purge) are facts the cloud already has or
// does not need, and stay in the audit log alone. The receiver finds gaps and restores
// order by sequence number, so the events it gets are numbered densely: WireOutbox
// gives the k-th kept event after the last acknowledged one the number acked+k. Only
// the last acknowledged number is stored; the numbering is a pure function of it and
// of the outbox, so an event keeps its number across restarts until it is acknowledged.
var metaWireAcked = []byte("outbox_wire_acked") // last wire seq acknowledged (8 BE)

// WireEvent is an outbox event with its number on the wire.
type WireEvent struct {
	Event
	Wire uint64
}

// WireOutbox is the outbox as the cloud link sees it: only the events keep accepts,
// numbered 1, 2, 3, … for ever. Create it with Station.WireOutbox; one per station,
// used by one link.
//
// It remembers, in memory, where each kept event not yet acknowledged sits in the
// outbox and how far it has looked, so every entry is decrypted and judged once, not
// on every read: announcements leave many entries that are never sent.
type WireOutbox struct {
	s    *Station
	keep func(Event) bool

	mu      sync.Mutex
	loaded  bool
	acked   uint64    // last acknowledged wire number, as stored
	scanned uint64    // outbox entries up to this audit seq have been judged
	kept    []wireRef // kept entries after acked, numbered acked+1, acked+2, …
}

type wireRef struct{ wire, seq uint64 }

// WireOutbox returns the outbox view for a link that sends the events keep accepts.
// keep must be a pure function of the event (the numbering relies on it) and cheap.
func (s *Station) WireOutbox(keep func(Event) bool) *WireOutbox {
	return &WireOutbox{s: s, keep: keep}
}

// scan judges the outbox entries not yet judged, until want kept events are known
// after wire number after (want < 0: all). Call with o.mu held.
func (o *WireOutbox) scan(tx *boltTx, after uint64, want int) error {
	if !o.loaded {
		o.acked, o.scanned, o.kept, o.loaded = wireAcked(tx), 0, nil, true
	}
	enough := func() bool {
		if want < 0 {
			return false
		}
		last := o.acked + uint64(len(o.kept))
		return last >= after && last-after >= uint64(want)
	}
	if enough() {
		return nil
	}
	c := tx.Bucket(bucketOutbox).Cursor()
	for k, v := c.Seek(audit.Key(o.scanned + 1)); k != nil; k, v = c.Next() {
		e, err := o.s.openOutbox(k, v)
		if err != nil {
			return err
		}
		o.scanned = e.Seq
		if o.keep(e) {
			o.kept = append(o.kept, wireRef{wire: o.acked + uint64(len(o.kept)) + 1, seq: e.Seq})
			if enough() {
				return nil
			}
		}
	}
	return nil
}

// Pending returns up to max kept events numbered after after, in order. It only reads.
func (o *WireOutbox) Pending(after uint64, max int) ([]WireEvent, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []WireEvent
	err := o.s.view(func(tx *boltTx) error {
		if err := o.scan(tx, after, max); err != nil {
			return err
		}
		b := tx.Bucket(bucketOutbox)
		for _, r := range o.kept {
			if r.wire <= after {
				continue
			}
			if len(out) == max {
				break
			}
			k := audit.Key(r.seq)
			v := b.Get(k)
			if v == nil { // removed behind our back: judge everything again
				o.loaded = false
				return fmt.Errorf("locker: outbox entry %d vanished", r.seq)
			}
			e, err := o.s.openOutbox(k, v)
			if err != nil {
				return err
			}
			out = append(out, WireEvent{Event: e, Wire: r.wire})
		}
		return nil
	})
	return out, err
}

// Ack removes the kept events numbered up to wire, and every event the link does not
// send that precedes the last of them, after the broker acknowledged them. Acking an
// event again is not an error.
func (o *WireOutbox) Ack(wire uint64) error {
	s := o.s
	o.mu.Lock()
	defer o.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	err := s.db.Update(func(tx *boltTx) error {
		if err := o.scan(tx, wire, 0); err != nil {
			return err
		}
		if wire <= o.acked || len(o.kept) == 0 {
			return nil
		}
		n := min(int(wire-o.acked), len(o.kept)) // an ack beyond what was seen must not leave a gap
		last := o.kept[n-1]
		b := tx.Bucket(bucketOutbox)
		var drop [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, audit.Key(last.seq)) <= 0; k, _ = c.Next() {
			drop = append(drop, k)
		}
		for _, k := range drop {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(metaWireAcked, binary.BigEndian.AppendUint64(nil, last.wire))
	})
	if err != nil {
		o.loaded = false // the transaction did not commit: start from the store again
		return err
	}
	if wire > o.acked && len(o.kept) > 0 {
		n := min(int(wire-o.acked), len(o.kept))
		o.acked = o.kept[n-1].wire
		o.kept = append(o.kept[:0:0], o.kept[n:]...)
	}
	return nil
}

// Wake is signalled after each transition that added events.
func (o *WireOutbox) Wake() <-chan struct{} { return o.s.wake }

// Len returns the number of kept events not yet acknowledged.
func (o *WireOutbox) Len() (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.s.view(func(tx *boltTx) error { return o.scan(tx, 0, -1) })
	return len(o.kept), err
}

func wireAcked(tx *boltTx) uint64 {
	if v := tx.Bucket(bucketMeta).Get(metaWireAcked); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (s *Station) openOutbox(k, v []byte) (Event, error) {
	var e Event
	if len(v) < 4 {
		return e, fmt.Errorf("locker: outbox entry %x malformed", k)
	}
	key, ok := s.keyring.Lookup(binary.BigEndian.Uint32(v))
	if !ok {
		return e, fmt.Errorf("locker: outbox entry %x: epoch key missing", k)
	}
	plain, err := privacy.OpenBytes(key, v[4:], k)
	if err != nil {
		return e, fmt.Errorf("locker: outbox entry %x: %w", k, err)
	}
	if err := json.Unmarshal(plain, &e); err != nil {
		return e, fmt.Errorf("locker: outbox entry %x: %w", k, err)
	}
	return e, nil
}

// Facts the station does not observe itself; the firmware records them with Record.
const (
	EvHardware EventType = "hardware" // a driver's health changed
	EvHealth   EventType = "health"   // periodic health report
)

// maxReport bounds the report of a recorded fact.
const maxReport = 4096

// ErrReport is returned by Record for an event type it does not take or an oversized
// report.
var ErrReport = errors.New("locker: not a recordable report")

// Record commits a fact reported from outside the station (EvHardware, EvHealth) to the
// audit log and the outbox, like every event. report is the reporter's JSON encoding of
// the fact; it holds no personal data and becomes the event's Report. actor names the
// component it is about.
func (s *Station) Record(typ EventType, actor string, report []byte) error {
	if (typ != EvHardware && typ != EvHealth) || len(report) > maxReport || len(actor) > 64 || !json.Valid(report) {
		return fmt.Errorf("%w: %s", ErrReport, typ)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.update(func(t *txn) error {
		return t.emit(Event{Type: typ, Actor: actor, Report: bytes.Clone(report)})
	})
}
