package boltstore

import (
	"encoding/binary"
	"fmt"

	"github.com/lockerd/lockerd/locker/privacy"
)

// Subject rows (docs/adr/0065-audit-actors-as-pseudonyms.md): bucket subjects, key the
// subject's index (an HMAC of its id under an epoch key, made by the domain), value
// epoch (4 BE) || slot (4 BE): the epoch whose key made the index and the keyring entry
// of the subject's own key for that epoch. The store keeps no id and no pseudonym;
// deleting a row and destroying its key (the domain's) is what erases a subject.

const subjectValue = 8

// Subject reads the row filed under index; ok false when there is none.
func (t *Tx) Subject(index privacy.Digest) (epoch, slot uint32, ok bool, err error) {
	v := t.tx.Bucket(bucketSubjects).Get(index[:])
	switch {
	case v == nil:
		return 0, 0, false, nil
	case len(v) != subjectValue:
		return 0, 0, false, fmt.Errorf("locker: subject row %x malformed", index[:4])
	}
	return binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:]), true, nil
}

// PutSubject files the row index -> (epoch, slot).
func (t *Tx) PutSubject(index privacy.Digest, epoch, slot uint32) error {
	v := binary.BigEndian.AppendUint32(make([]byte, 0, subjectValue), epoch)
	return t.tx.Bucket(bucketSubjects).Put(index[:], binary.BigEndian.AppendUint32(v, slot))
}

// DeleteSubject deletes the row filed under index (none: nothing).
func (t *Tx) DeleteSubject(index privacy.Digest) error {
	return t.tx.Bucket(bucketSubjects).Delete(index[:])
}

// Subjects passes every row to fn, in index order; fn must not change the bucket.
func (t *Tx) Subjects(fn func(index privacy.Digest, epoch, slot uint32) error) error {
	return t.tx.Bucket(bucketSubjects).ForEach(func(k, v []byte) error {
		if len(k) != len(privacy.Digest{}) || len(v) != subjectValue {
			return fmt.Errorf("locker: subject row %x malformed", k)
		}
		return fn(privacy.Digest(k), binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:]))
	})
}
