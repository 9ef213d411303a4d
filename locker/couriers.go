package locker

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// Courier records (docs/adr/0049-nothing-linkable-at-rest.md). A record is found by the
// courier's badge digest sealed under an epoch key, and holds, sealed, the courier's id,
// badge digest, PIN verifier, rights and own login throttle. The content's key combines
// the epoch key with a key of the courier's own, kept in the keyring at a slot
// (courierSlotBase and up): a revoke destroys that key, so the record (and any copy of
// it left in free pages or on flash) is unreadable at once, not only deleted; the
// epoch key shreds what is left of the index row once the epoch goes. Records move to
// the current epoch before past epochs are shredded (resealCouriers), so that a
// courier never holds an epoch key alive.

// courierSlotBase is the first keyring entry that holds a courier's key rather than
// an epoch's. Epoch numbers (unix seconds over an epoch length of at least an hour,
// Policy.Validate) stay below 2^21 until the uint32 seconds end in 2106.
const courierSlotBase uint32 = 1 << 31

// maxCouriers is the most couriers a station keeps: each holds a keyring entry, of
// privacy.MaxEpochs in all.
const maxCouriers = 2048

// ErrCourierLimit refuses a courier beyond maxCouriers.
var ErrCourierLimit = fmt.Errorf("locker: at most %d couriers per station", maxCouriers)

func isCourierSlot(e uint32) bool { return e >= courierSlotBase }

// courierContent is what a courier record holds, sealed.
type courierContent struct {
	ID       string         `json:"id"`
	Badge    privacy.Digest `json:"badge"` // to file the record under a later epoch
	Verifier privacy.Digest `json:"verifier"`
	Rights   Rights         `json:"rights"`
	Throttle throttle       `json:"throttle,omitzero"` // this badge's failed logins
}

func (c courierContent) courier() Courier {
	return Courier{ID: c.ID, Badge: c.Badge, Verifier: c.Verifier, Rights: c.Rights}
}

// courierAD binds sealed content to the row it is filed under.
func courierAD(key privacy.Digest) []byte { return append([]byte("lockerd/courier/v1/"), key[:]...) }

// courierKey is the key a record of slot and epoch is sealed under: both must exist.
func (s *Station) courierKey(slot, epoch uint32) ([32]byte, bool) {
	ks, ok := s.keyring.Lookup(slot)
	if !ok {
		return [32]byte{}, false
	}
	ke, ok := s.keyring.Lookup(epoch)
	if !ok {
		return [32]byte{}, false
	}
	return [32]byte(privacy.Seal(ks, privacy.Digest(ke))), true
}

// sealCourier files content under epoch e (whose key exists) and slot.
func (s *Station) sealCourier(e, slot uint32, c courierContent) (*store.CourierRecord, error) {
	ke, ok := s.keyring.Lookup(e)
	key, ok2 := s.courierKey(slot, e)
	if !ok || !ok2 {
		return nil, fmt.Errorf("locker: courier key %d or epoch key %d missing", slot-courierSlotBase, e)
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	r := &store.CourierRecord{Key: privacy.Seal(ke, c.Badge), Epoch: e, Slot: slot}
	r.Sealed = privacy.SealBytes(key, plain, courierAD(r.Key))
	return r, nil
}

// openCourier returns a record's content; false when its keys are gone (a revoke
// that a crash interrupted) or it does not open.
func (s *Station) openCourier(r *store.CourierRecord) (courierContent, bool) {
	var c courierContent
	key, ok := s.courierKey(r.Slot, r.Epoch)
	if !ok {
		return c, false
	}
	plain, err := privacy.OpenBytes(key, r.Sealed, courierAD(r.Key))
	if err != nil || json.Unmarshal(plain, &c) != nil {
		return courierContent{}, false
	}
	return c, true
}

// epochKeys returns the keyring's epochs, without the couriers' slots, ascending.
func (s *Station) epochKeys() []uint32 {
	var out []uint32
	for _, e := range s.keyring.Epochs() {
		if !isCourierSlot(e) {
			out = append(out, e)
		}
	}
	return out
}

// findCourier returns the record filed under badge digest b in a live epoch, or nil.
func (s *Station) findCourier(t store.Tx, b privacy.Digest) (*store.CourierRecord, error) {
	for _, e := range s.liveEpochs() {
		k, ok := s.keyring.Lookup(e)
		if !ok {
			continue
		}
		r, err := t.Courier(privacy.Seal(k, b))
		if err != nil || r != nil {
			return r, err
		}
	}
	return nil, nil
}

// newCourierSlot creates the key of a new courier and returns its slot.
func (s *Station) newCourierSlot() (uint32, error) {
	next, n := courierSlotBase, 0
	for _, e := range s.keyring.Epochs() {
		if isCourierSlot(e) {
			next, n = max(next, e+1), n+1
		}
	}
	if n >= maxCouriers {
		return 0, ErrCourierLimit
	}
	if _, err := s.keyring.Key(next); err != nil {
		return 0, fmt.Errorf("locker: courier key: %w", err)
	}
	return next, nil
}

// collectCourierKeys destroys every courier key that no record names: the keys of
// revoked or replaced couriers, and of an upsert that did not commit. It runs after
// each change to the couriers and at start, so that a crash between a commit and its
// keys' destruction only delays the shredding.
func (s *Station) collectCourierKeys() error {
	used := map[uint32]bool{}
	if err := s.store.View(func(t store.Tx) error {
		return t.Couriers(func(r *store.CourierRecord) error {
			used[r.Slot] = true
			return nil
		})
	}); err != nil {
		return err
	}
	for _, e := range s.keyring.Epochs() {
		if isCourierSlot(e) && !used[e] {
			if err := s.keyring.Destroy(e); err != nil {
				return fmt.Errorf("locker: destroy courier key: %w", err)
			}
		}
	}
	return nil
}

// UpsertCourier stores or replaces a courier: its badge digest and PIN verifier
// (docs/privacy.md §3), never the token or PIN. The courier's earlier record, and any
// record of the same badge, are replaced and their keys destroyed.
func (s *Station) UpsertCourier(ctx context.Context, c Courier) error {
	if c.ID == "" || len(c.ID) > 64 || c.Badge.IsZero() || c.Verifier.IsZero() {
		return errors.New("locker: courier needs an id (1..64 bytes), a badge digest and a PIN verifier")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	e := s.epochOf(s.clock.Now())
	if _, err := s.keyring.Key(e); err != nil {
		return fmt.Errorf("locker: epoch key: %w", err)
	}
	slot, err := s.newCourierSlot()
	if err != nil {
		return err
	}
	err = s.update(func(t *txn) error {
		if err := s.dropCouriers(t.st, c.ID, c.Badge); err != nil {
			return err
		}
		r, err := s.sealCourier(e, slot, courierContent{ID: c.ID, Badge: c.Badge, Verifier: c.Verifier, Rights: c.Rights})
		if err != nil {
			return err
		}
		if err := t.st.PutCourier(nil, r); err != nil {
			return err
		}
		return t.emit(Event{Type: EvCourierUpserted, Actor: "cloud", Reason: c.ID})
	})
	if gcErr := s.collectCourierKeys(); err == nil {
		err = gcErr
	}
	return err
}

// RevokeCourier removes a courier and destroys its key: its record, and every copy of
// it the store or the flash kept, can no longer be read. Its open sessions end.
func (s *Station) RevokeCourier(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for sid, se := range s.sessions {
		if se.courier.ID == id {
			delete(s.sessions, sid)
		}
	}
	err := s.update(func(t *txn) error {
		if err := s.dropCouriers(t.st, id, privacy.Digest{}); err != nil {
			return err
		}
		return t.emit(Event{Type: EvCourierRevoked, Actor: "cloud", Reason: id})
	})
	if gcErr := s.collectCourierKeys(); err == nil {
		err = gcErr
	}
	return err
}

// dropCouriers deletes the records of courier id and of badge digest b (zero: none),
// and those whose keys are gone; collectCourierKeys destroys their keys after the commit.
func (s *Station) dropCouriers(t store.Tx, id string, b privacy.Digest) error {
	var drop []*store.CourierRecord
	if err := t.Couriers(func(r *store.CourierRecord) error {
		c, ok := s.openCourier(r)
		if !ok || c.ID == id || (!b.IsZero() && c.Badge == b) {
			drop = append(drop, r)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, r := range drop {
		if err := t.PutCourier(r, nil); err != nil {
			return err
		}
	}
	return nil
}

// resealCouriers files every courier record sealed under an epoch before the current
// one under the current one, in one transition, so that the past epoch can be
// shredded. Callers hold s.mu.
func (s *Station) resealCouriers(now time.Time) error {
	cur := s.epochOf(now)
	var old []*store.CourierRecord
	if err := s.store.View(func(t store.Tx) error {
		return t.Couriers(func(r *store.CourierRecord) error {
			if r.Epoch < cur {
				old = append(old, r)
			}
			return nil
		})
	}); err != nil || len(old) == 0 {
		return err
	}
	if _, err := s.keyring.Key(cur); err != nil {
		return fmt.Errorf("locker: epoch key: %w", err)
	}
	return s.update(func(t *txn) error {
		for _, r := range old {
			c, ok := s.openCourier(r)
			if !ok {
				continue // keys gone: dropped at the next upsert or revoke
			}
			nr, err := s.sealCourier(cur, r.Slot, c)
			if err != nil {
				return err
			}
			if err := t.st.PutCourier(r, nr); err != nil {
				return err
			}
		}
		return nil
	})
}

// loginCourier checks a badge token and PIN and returns the courier. A known badge
// with a wrong PIN counts against that badge alone, so that an attack on one badge
// locks out no one else; an unknown badge counts against the station's courier
// throttle, the outer bound, which known badges do not wait for. A token shorter than
// a badge token (privacy.CheckBadge), or a PIN that is not 4-12 digits
// (privacy.CheckPIN), is refused before any lookup and costs no guess.
// Callers hold s.mu.
func (s *Station) loginCourier(badge, pin string, now time.Time) (Courier, error) {
	if privacy.CheckBadge(badge) != nil || privacy.CheckPIN(pin) != nil {
		return Courier{}, ErrBadCredentials
	}
	b, err := privacy.BadgeDigest(s.keys, badge)
	if err != nil {
		return Courier{}, fmt.Errorf("locker: key store: %w", err)
	}
	var r *store.CourierRecord
	if err := s.store.View(func(t store.Tx) error {
		var err error
		r, err = s.findCourier(t, b)
		return err
	}); err != nil {
		return Courier{}, fmt.Errorf("locker: courier lookup: %w", err)
	}
	var c courierContent
	ok := r != nil
	if ok {
		c, ok = s.openCourier(r)
	}
	if !ok {
		if d := s.courThr.check(s.policy.CourierThrottle, now); d > 0 {
			return Courier{}, &ThrottledError{RetryAfter: d}
		}
		return Courier{}, s.failThrottle(&s.courThr, s.policy.CourierThrottle, store.MetaCourierThrottle, ThrottleCourier, ErrBadCredentials)
	}
	if d := c.Throttle.check(s.policy.CourierThrottle, now); d > 0 {
		return Courier{}, &ThrottledError{RetryAfter: d}
	}
	v, err := privacy.CourierDigest(s.keys, badge, pin)
	if err != nil {
		return Courier{}, fmt.Errorf("locker: key store: %w", err)
	}
	if !hmac.Equal(v[:], c.Verifier[:]) {
		return Courier{}, s.failBadge(r, c, now)
	}
	if c.Throttle.Failures > 0 {
		c.Throttle = throttle{}
		if err := s.rewriteCourier(r, c, nil); err != nil {
			return Courier{}, err
		}
	}
	if err := s.resetThrottle(&s.courThr, store.MetaCourierThrottle); err != nil {
		return Courier{}, err
	}
	return c.courier(), nil
}

// failBadge counts a wrong PIN against the badge of record r.
func (s *Station) failBadge(r *store.CourierRecord, c courierContent, now time.Time) error {
	d := c.Throttle.fail(s.policy.CourierThrottle, now)
	var ev *Event
	if d > 0 {
		ev = &Event{Type: EvThrottled, Count: c.Throttle.Failures, Source: ThrottleCourier, Actor: c.ID,
			Seconds: int64(d.Round(time.Second) / time.Second), Reason: fmt.Sprintf("one courier badge locked for %v", d)}
	}
	if err := s.rewriteCourier(r, c, ev); err != nil {
		return fmt.Errorf("locker: record failure: %w", err)
	}
	if d > 0 {
		s.log.Warn("entry throttled", "source", ThrottleCourier, "scope", "badge", "failures", c.Throttle.Failures, "locked_for", d)
		return &ThrottledError{RetryAfter: d}
	}
	return ErrBadCredentials
}

// rewriteCourier stores c in place of record r, in r's epoch and slot, with ev if any.
func (s *Station) rewriteCourier(r *store.CourierRecord, c courierContent, ev *Event) error {
	return s.update(func(t *txn) error {
		nr, err := s.sealCourier(r.Epoch, r.Slot, c)
		if err != nil {
			return err
		}
		if err := t.st.PutCourier(r, nr); err != nil {
			return err
		}
		if ev != nil {
			return t.emit(*ev)
		}
		return nil
	})
}
