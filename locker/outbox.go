package locker

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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
			if len(v) < 4 {
				return fmt.Errorf("locker: outbox entry %x malformed", k)
			}
			key, ok := s.keyring.Lookup(binary.BigEndian.Uint32(v))
			if !ok {
				return fmt.Errorf("locker: outbox entry %x: epoch key missing", k)
			}
			plain, err := privacy.OpenBytes(key, v[4:], k)
			if err != nil {
				return fmt.Errorf("locker: outbox entry %x: %w", k, err)
			}
			var e Event
			if err := json.Unmarshal(plain, &e); err != nil {
				return fmt.Errorf("locker: outbox entry %x: %w", k, err)
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
		var err error
		_, n, err = audit.Verify(tx.Bucket(bucketAudit), s.keys.AuditKey())
		return err
	})
	return n, err
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

// VerifyAuditFile verifies the audit chain of a station store that is not open,
// read-only, with the station's keys.
func VerifyAuditFile(path string, keys *privacy.Keys) (int, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return 0, fmt.Errorf("locker: open store: %w", err)
	}
	defer db.Close()
	var n int
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return errors.New("locker: store has no audit log")
		}
		_, n, err = audit.Verify(b, keys.AuditKey())
		return err
	})
	return n, err
}
