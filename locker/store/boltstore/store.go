// Package boltstore is the station's store (locker/store) on bbolt: one file, its
// buckets and the encoding of what is in them (docs/adr/0003-store-layout.md), the
// audit chain (locker/audit), the event outbox, the cloud's command log and the epoch
// reference counts that decide crypto-shredding (docs/adr/0002-crypto-shredding.md).
//
// The domain (package locker) decides what changes; this package decides how it is laid
// out on flash (docs/adr/0038-store-boundary.md). A Store.Update is one bbolt commit
// and one fsync (docs/adr/0027-one-write-per-command.md).
package boltstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/lockerd/lockerd/locker/audit"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// Store is an open station store. Update is serialised by bbolt; its callers (the
// station) hold their own lock around it, which also orders Head.
type Store struct {
	db       *bolt.DB
	auditKey []byte
	keyring  *privacy.Keyring

	mu   sync.Mutex
	head audit.Head // the audit chain's last entry: the event sequence
}

var _ store.Opener = Open

// Open opens (creating on first start) the store file. Its buckets are made, and its
// schema checked, by Tx.Init in the caller's first transaction.
func Open(opt store.Options) (store.Store, error) {
	// A generous initial mapping spares the hot path the remaps bbolt does while the
	// file grows (address space only; pages are mapped as they are touched).
	db, err := bolt.Open(opt.Path, 0o600, &bolt.Options{Timeout: 2 * time.Second,
		InitialMmapSize: 64 << 20, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("locker: open store: %w", openErr(err))
	}
	// bbolt fsyncs the file, never its directory: the name of a store it has just
	// created is not durable, and a power cut could take it back with every commit made
	// in it since. Once per open is enough.
	if err := syncDir(filepath.Dir(opt.Path)); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, auditKey: opt.AuditKey, keyring: opt.Keyring}, nil
}

// syncDir fsyncs directory dir, which makes the names in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("locker: open store directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("locker: sync store directory: %w", err)
	}
	return nil
}

// openErr explains bbolt's timeout on the store's file lock: another process, most
// likely the running lockerd, holds the store.
func openErr(err error) error {
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("%w: the store is in use by another process (is lockerd running? systemctl stop lockerd)", err)
	}
	return err
}

// Close closes the store file.
func (s *Store) Close() error { return s.db.Close() }

// DB is the bbolt database underneath, for tests that look at or tamper with the
// layout itself. The station never uses it.
func (s *Store) DB() *bolt.DB { return s.db }

// Seq returns the sequence number of the last event committed (the audit chain's head).
func (s *Store) Seq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head.Seq
}

// Tx is one transaction on the store: in Update a state transition, everything it
// writes committed together or not at all; in View a consistent read.
type Tx struct {
	s      *Store
	tx     *bolt.Tx
	head   audit.Head       // the audit head as this transaction moves it
	epochs map[uint32]int64 // reference count changes, written once before the commit
}

// Update runs fn in one write transaction: one commit and one fsync. The epoch counts
// fn changed are written once, at its end; the audit head it moved becomes the store's
// only if the commit succeeds.
func (s *Store) Update(fn func(store.Tx) error) error {
	s.mu.Lock()
	t := &Tx{s: s, head: s.head}
	s.mu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		t.tx = tx
		if err := fn(t); err != nil {
			return err
		}
		return t.putEpochs()
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.head = t.head
	s.mu.Unlock()
	return nil
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(store.Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{s: s, tx: tx}) })
}
