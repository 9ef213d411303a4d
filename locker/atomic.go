package locker

import "github.com/lockerd/lockerd/locker/store"

// A caller outside the domain can join its own records to the station's changes in
// one transition, one durable write: the cloud link's adapter records each command it
// runs with its reply in the transaction that applies it, so that both are durable or
// neither (docs/adr/0027-one-write-per-command.md). The command log is the adapter's
// (docs/adr/0045-command-log-in-the-adapter.md); the station only lends it the part of
// the store transaction that holds the log.

// Tx is one transition opened by Atomically: the domain operations a caller may batch,
// and the command log's part of the store transaction.
type Tx struct {
	t         *txn
	announced int
}

// Atomically runs fn as one transition: everything fn does through tx commits
// together, in one durable write, or not at all if fn returns an error. fn must not
// call the Station.
func (s *Station) Atomically(fn func(tx *Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.atomically(fn)
}

// atomically is Atomically for callers that hold s.mu. One announced event counts the
// parcels the whole transition announced.
func (s *Station) atomically(fn func(tx *Tx) error) error {
	return s.update(func(t *txn) error {
		tx := &Tx{t: t}
		if err := fn(tx); err != nil {
			return err
		}
		if tx.announced == 0 {
			return nil
		}
		return t.emit(Event{Type: EvAnnounced, Count: tx.announced, Actor: "cloud"})
	})
}

// Announce applies a batch of announcements in tx, as Station.Announce does, and
// returns one error per announcement (nil for applied), in order. An error return
// fails the whole transition.
func (tx *Tx) Announce(batch []Announcement) ([]error, error) {
	results, n, err := tx.t.s.announceIn(tx.t, batch)
	tx.announced += n
	return results, err
}

// Commands is the command log's part of the transaction.
func (tx *Tx) Commands() store.CommandTx { return tx.t.st }

// ViewCommands runs fn on a read-only view of the command log: no write, no commit.
func (s *Station) ViewCommands(fn func(store.CommandReader) error) error {
	return s.store.View(func(t store.Tx) error { return fn(t) })
}
