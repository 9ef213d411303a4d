package boltstore

import (
	"encoding/binary"
	"fmt"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// Courier records (docs/adr/0049-nothing-linkable-at-rest.md): bucket badges, key the
// sealed badge digest, value epoch (4 BE) || slot (4 BE) || the domain's sealed content.
// The store seals nothing of a courier itself: the content's key is the courier's own,
// which only the domain manages (a revoke destroys it).

const courierHeader = 8

func encodeCourier(c *store.CourierRecord) []byte {
	v := binary.BigEndian.AppendUint32(make([]byte, 0, courierHeader+len(c.Sealed)), c.Epoch)
	v = binary.BigEndian.AppendUint32(v, c.Slot)
	return append(v, c.Sealed...)
}

func decodeCourier(k, v []byte) (*store.CourierRecord, error) {
	if len(k) != 32 || len(v) <= courierHeader {
		return nil, fmt.Errorf("locker: courier record %x malformed", k)
	}
	c := &store.CourierRecord{Epoch: binary.BigEndian.Uint32(v), Slot: binary.BigEndian.Uint32(v[4:]),
		Sealed: append([]byte(nil), v[courierHeader:]...)}
	copy(c.Key[:], k)
	return c, nil
}

// Courier reads the courier record filed under key; nil when there is none.
func (t *Tx) Courier(key privacy.Digest) (*store.CourierRecord, error) {
	v := t.tx.Bucket(bucketBadges).Get(key[:])
	if v == nil {
		return nil, nil
	}
	return decodeCourier(key[:], v)
}

// PutCourier stores c (nil deletes) in place of old (nil when new), and moves the
// reference counts of their epochs: an epoch key is not destroyed under a courier.
func (t *Tx) PutCourier(old, c *store.CourierRecord) error {
	b := t.tx.Bucket(bucketBadges)
	if old != nil {
		if err := b.Delete(old.Key[:]); err != nil {
			return err
		}
		t.epochRef(old.Epoch, -1)
	}
	if c == nil {
		return nil
	}
	if len(c.Sealed) == 0 {
		return fmt.Errorf("locker: courier record with no content")
	}
	if err := b.Put(c.Key[:], encodeCourier(c)); err != nil {
		return err
	}
	t.epochRef(c.Epoch, +1)
	return nil
}

// Couriers passes every courier record to fn, in key order.
func (t *Tx) Couriers(fn func(c *store.CourierRecord) error) error {
	return t.tx.Bucket(bucketBadges).ForEach(func(k, v []byte) error {
		c, err := decodeCourier(k, v)
		if err != nil {
			return err
		}
		return fn(c)
	})
}
