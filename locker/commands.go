package locker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The command log remembers every cloud command id until its expiry, so that a
// duplicate delivery (QoS 1 redelivery, a replay) is answered with the stored reply and
// never executed twice, and a command found in progress after a crash is reported as
// "outcome unknown" rather than re-run. Replies are opaque bytes to the station: the
// cloud link owns their format.
var (
	bucketCommands  = []byte("commands")   // id -> exp (8 BE unix nanos) || state (1) || reply
	bucketIdxCmdExp = []byte("idx_cmdexp") // exp (8 BE) || id -> nil
)

const (
	cmdInProgress byte = 1
	cmdDone       byte = 2
)

// ErrCommandInProgress is returned by CommandBegin for an id that was begun and never
// finished: the station may have acted on it before a crash.
var ErrCommandInProgress = errors.New("locker: command was in progress when the station stopped")

// maxCommandID bounds ids so that the log cannot be used to fill the store.
const maxCommandID = 128

// CommandBegin durably records command id as in progress until exp. It returns
// (nil, nil) for a new id; for a known one it records nothing and returns the stored
// reply, or ErrCommandInProgress.
func (s *Station) CommandBegin(id string, exp time.Time) ([]byte, error) {
	if id == "" || len(id) > maxCommandID {
		return nil, fmt.Errorf("locker: command id must be 1..%d bytes", maxCommandID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var prior []byte
	var known bool
	err := s.db.Update(func(tx *boltTx) error {
		b := tx.Bucket(bucketCommands)
		if v := b.Get([]byte(id)); v != nil {
			known = true
			if len(v) < 9 {
				return fmt.Errorf("locker: command log entry malformed")
			}
			if v[8] == cmdInProgress {
				return nil
			}
			prior = append([]byte(nil), v[9:]...)
			return nil
		}
		val := binary.BigEndian.AppendUint64(nil, uint64(exp.UnixNano()))
		if err := b.Put([]byte(id), append(val, cmdInProgress)); err != nil {
			return err
		}
		return tx.Bucket(bucketIdxCmdExp).Put(append(val, id...), nil)
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("locker: command log: %w", err)
	case known && prior == nil:
		return nil, ErrCommandInProgress
	}
	return prior, nil
}

// CommandFinish stores the final reply of a begun command.
func (s *Station) CommandFinish(id string, reply []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.db.Update(func(tx *boltTx) error {
		b := tx.Bucket(bucketCommands)
		v := b.Get([]byte(id))
		if len(v) < 9 {
			return fmt.Errorf("locker: command %q was not begun", id)
		}
		val := append(append([]byte(nil), v[:8]...), cmdDone)
		return b.Put([]byte(id), append(val, reply...))
	})
}

// forgetCommands drops command ids whose expiry has passed: an expired command is
// refused before it reaches the log, so its id cannot matter any more.
func (s *Station) forgetCommands(now time.Time) error {
	limit := binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))
	return s.db.Update(func(tx *boltTx) error {
		idx, b := tx.Bucket(bucketIdxCmdExp), tx.Bucket(bucketCommands)
		c := idx.Cursor()
		n := 0
		for k, _ := c.First(); k != nil && n < maxPerTick; k, _ = c.First() {
			if len(k) < 8 || string(k[:8]) > string(limit) {
				break
			}
			if err := b.Delete(k[8:]); err != nil {
				return err
			}
			if err := idx.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
}
