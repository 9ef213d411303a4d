package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/store"
)

// The command log remembers every cloud command id until its expiry, so that a
// duplicate delivery (QoS 1 redelivery, a replay) is answered with the stored reply and
// never executed twice, and a command found in progress after a crash is reported as
// "outcome unknown" rather than re-run (docs/adr/0022-command-dedup-and-outcome-unknown.md).
// Replies are opaque bytes: the cloud link owns their format.
const (
	cmdInProgress byte = 1
	cmdDone       byte = 2
)

// decodeCommandEntry decodes a command log value: the stored reply (a copy) and done,
// or done false for a command in progress. A done entry without a reply (builds before
// the final reply refused empty ones could store one) reads as in progress, as the log
// always took it: its outcome is unknown. A state byte the log never
// writes, or bytes after an in-progress mark, are refused rather than sent to the
// cloud as a stored reply.
func decodeCommandEntry(v []byte) (reply []byte, done bool, err error) {
	switch {
	case len(v) == 9 && (v[8] == cmdInProgress || v[8] == cmdDone):
		return nil, false, nil
	case len(v) > 9 && v[8] == cmdDone:
		return append([]byte(nil), v[9:]...), true, nil
	}
	return nil, false, fmt.Errorf("locker: command log entry malformed")
}

// Command reads command id in this transaction: known false when the log does not
// have it, else its stored reply and whether it finished.
func (t *Tx) Command(id string) (reply []byte, done, known bool, err error) {
	v := t.tx.Bucket(bucketCommands).Get([]byte(id))
	if v == nil {
		return nil, false, false, nil
	}
	reply, done, err = decodeCommandEntry(v)
	return reply, done, true, err
}

// BeginCommand records command id, which the log does not have, as in progress until
// exp.
func (t *Tx) BeginCommand(id string, exp time.Time) error {
	val := binary.BigEndian.AppendUint64(nil, uint64(exp.UnixNano()))
	if err := t.tx.Bucket(bucketCommands).Put([]byte(id), append(val, cmdInProgress)); err != nil {
		return err
	}
	return t.tx.Bucket(bucketIdxCmdExp).Put(append(val, id...), nil)
}

// FinishCommand stores the final reply of begun command id, keeping its expiry.
func (t *Tx) FinishCommand(id string, reply []byte) error {
	if len(reply) == 0 {
		return store.ErrEmptyReply
	}
	b := t.tx.Bucket(bucketCommands)
	v := b.Get([]byte(id))
	if len(v) < 9 {
		return fmt.Errorf("locker: command %q was not begun", id)
	}
	val := append(append([]byte(nil), v[:8]...), cmdDone)
	return b.Put([]byte(id), append(val, reply...))
}

// PutCommand records command id as done with its final reply, kept until exp.
func (t *Tx) PutCommand(id string, exp time.Time, reply []byte) error {
	if len(reply) == 0 {
		return store.ErrEmptyReply
	}
	val := binary.BigEndian.AppendUint64(nil, uint64(exp.UnixNano()))
	if err := t.tx.Bucket(bucketIdxCmdExp).Put(append(val, id...), nil); err != nil {
		return err
	}
	return t.tx.Bucket(bucketCommands).Put([]byte(id), append(append(val, cmdDone), reply...))
}

// CommandDigest reads the body digest stored for command id: nil when none was stored
// (an id the log does not have, or one recorded by a build before digests).
func (t *Tx) CommandDigest(id string) ([]byte, error) {
	v := t.tx.Bucket(bucketCmdDigest).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	if len(v) != store.CommandDigestSize {
		return nil, fmt.Errorf("locker: command digest malformed")
	}
	return append([]byte(nil), v...), nil
}

// PutCommandDigest stores the body digest of command id, which the log has; it is
// forgotten with the id.
func (t *Tx) PutCommandDigest(id string, digest []byte) error {
	if len(digest) != store.CommandDigestSize {
		return fmt.Errorf("locker: command digest must be %d bytes", store.CommandDigestSize)
	}
	if t.tx.Bucket(bucketCommands).Get([]byte(id)) == nil {
		return fmt.Errorf("locker: command %q is not in the log", id)
	}
	return t.tx.Bucket(bucketCmdDigest).Put([]byte(id), digest)
}

// Revision reads the revision kept for entity key.
func (t *Tx) Revision(key string) (int64, bool, error) {
	v := t.tx.Bucket(bucketRevisions).Get([]byte(key))
	if v == nil {
		return 0, false, nil
	}
	rev, _, err := decodeRevision(v)
	return rev, err == nil, err
}

// encodeRevision is a revisions value: rev (8 BE) || keep until (8 BE unix nanos).
func encodeRevision(rev int64, until []byte) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(rev)), until...)
}

// decodeRevision decodes a revisions value: the revision and the keep-until index
// prefix (a copy).
func decodeRevision(v []byte) (rev int64, until []byte, err error) {
	if len(v) != 16 {
		return 0, nil, fmt.Errorf("locker: revision entry malformed")
	}
	return int64(binary.BigEndian.Uint64(v)), bytes.Clone(v[8:]), nil
}

// PutRevision records rev for entity key until until, replacing what was kept.
func (t *Tx) PutRevision(key string, rev int64, until time.Time) error {
	if key == "" || len(key) > 2*maxRevisionKey {
		return fmt.Errorf("locker: revision key must be 1..%d bytes", 2*maxRevisionKey)
	}
	b, idx := t.tx.Bucket(bucketRevisions), t.tx.Bucket(bucketIdxRevExp)
	if v := b.Get([]byte(key)); v != nil {
		_, old, err := decodeRevision(v)
		if err != nil {
			return err
		}
		if err := idx.Delete(append(old, key...)); err != nil {
			return err
		}
	}
	u := binary.BigEndian.AppendUint64(nil, uint64(until.UnixNano()))
	if err := idx.Put(append(bytes.Clone(u), key...), nil); err != nil {
		return err
	}
	return b.Put([]byte(key), encodeRevision(rev, u))
}

// maxRevisionKey bounds the id part of a revision key.
const maxRevisionKey = 64

// IssuedFloor reads the newest command issue time noted, or the zero time.
func (t *Tx) IssuedFloor() (time.Time, error) {
	v := t.tx.Bucket(bucketMeta).Get(metaIssuedFloor)
	switch len(v) {
	case 0:
		return time.Time{}, nil
	case 8:
		return time.Unix(int64(binary.BigEndian.Uint64(v)), 0), nil
	}
	return time.Time{}, fmt.Errorf("locker: issued floor malformed")
}

// NoteIssued raises the newest command issue time seen to iat, if later.
func (t *Tx) NoteIssued(iat time.Time) error {
	meta := t.tx.Bucket(bucketMeta)
	if v := meta.Get(metaIssuedFloor); len(v) == 8 && int64(binary.BigEndian.Uint64(v)) >= iat.Unix() {
		return nil
	}
	return meta.Put(metaIssuedFloor, binary.BigEndian.AppendUint64(nil, uint64(iat.Unix())))
}

// forgetLimit is the index key prefix up to which the command log forgets: now less
// CommandGrace, and no later than the newest command issue time seen plus IssuedSkew
// less CommandGrace, so that a device clock ahead of the cloud's forgets nothing
// early. A store that has seen no issue time (before ADR 0055) reads now alone.
func forgetLimit(tx *bolt.Tx, now time.Time) []byte {
	if v := tx.Bucket(bucketMeta).Get(metaIssuedFloor); len(v) == 8 {
		if floor := time.Unix(int64(binary.BigEndian.Uint64(v)), 0).Add(store.IssuedSkew); floor.Before(now) {
			now = floor
		}
	}
	return binary.BigEndian.AppendUint64(nil, uint64(now.Add(-store.CommandGrace).UnixNano()))
}

// CommandExpiryDue reports whether the oldest remembered command, or the oldest kept
// revision, expired more than CommandGrace before now, without a write transaction.
func (s *Store) CommandExpiryDue(now time.Time) bool {
	due := false
	_ = s.db.View(func(tx *bolt.Tx) error {
		limit := forgetLimit(tx, now)
		for _, idx := range [][]byte{bucketIdxCmdExp, bucketIdxRevExp} {
			k, _ := tx.Bucket(idx).Cursor().First()
			due = due || len(k) >= 8 && string(k[:8]) <= string(limit)
		}
		return nil
	})
	return due
}

// ForgetCommands drops up to max command ids whose expiry passed more than
// CommandGrace before now, with their digests, and then, within the same max, kept
// revisions whose time passed as long ago, in one commit.
func (s *Store) ForgetCommands(now time.Time, max int) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		limit := forgetLimit(tx, now)
		idx, b := tx.Bucket(bucketIdxCmdExp), tx.Bucket(bucketCommands)
		c := idx.Cursor()
		n := 0
		for k, _ := c.First(); k != nil && n < max; k, _ = c.First() {
			if len(k) < 8 || string(k[:8]) > string(limit) {
				break
			}
			if err := b.Delete(k[8:]); err != nil {
				return err
			}
			if err := tx.Bucket(bucketCmdDigest).Delete(k[8:]); err != nil {
				return err
			}
			if err := idx.Delete(k); err != nil {
				return err
			}
			n++
		}
		ridx, rb := tx.Bucket(bucketIdxRevExp), tx.Bucket(bucketRevisions)
		rc := ridx.Cursor()
		for k, _ := rc.First(); k != nil && n < max; k, _ = rc.First() {
			if len(k) < 8 || string(k[:8]) > string(limit) {
				break
			}
			if err := rb.Delete(k[8:]); err != nil {
				return err
			}
			if err := ridx.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
}
