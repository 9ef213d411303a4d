package locker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/courier"
	"github.com/lockerd/lockerd/locker/gate"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// Courier records and their sealing are locker/courier's (ADR 0049); the station
// holds the lock, audits each change in its transition and destroys the keys no record
// names once it commits (collectCourierKeys).

// ErrCourierLimit refuses a courier beyond courier.MaxCouriers.
var ErrCourierLimit = courier.ErrLimit

// epochKeys returns the keyring's epochs, without the couriers' slots, ascending.
func (s *Station) epochKeys() []uint32 { return s.couriers.Epochs() }

// collectCourierKeys destroys every courier key that no record names (courier.Book.Collect).
func (s *Station) collectCourierKeys() error {
	return s.store.View(func(t store.Tx) error { return s.couriers.Collect(t) })
}

// UpsertCourier stores or replaces a courier: its badge digest and PIN verifier
// (docs/privacy.md §3), never the token or PIN. The courier's earlier record, and any
// record of the same badge, are replaced and their keys destroyed.
func (s *Station) UpsertCourier(ctx context.Context, c Courier) error {
	if err := c.Validate(); err != nil {
		return err
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
	slot, err := s.couriers.NewSlot()
	if err != nil {
		return err
	}
	err = s.update(func(t *txn) error {
		if err := s.couriers.Put(t.st, e, slot, courier.Of(c)); err != nil {
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
	s.sessions.EndCourier(id)
	err := s.update(func(t *txn) error {
		if err := s.couriers.Drop(t.st, id, privacy.Digest{}); err != nil {
			return err
		}
		return t.emit(Event{Type: EvCourierRevoked, Actor: "cloud", Reason: id})
	})
	if gcErr := s.collectCourierKeys(); err == nil {
		err = gcErr
	}
	return err
}

// resealCouriers files every courier record sealed under an epoch before the current
// one under the current one, in one transition, so that the past epoch can be
// shredded. Callers hold s.mu.
func (s *Station) resealCouriers(now time.Time) error {
	cur := s.epochOf(now)
	var old []*store.CourierRecord
	if err := s.store.View(func(t store.Tx) error {
		var err error
		old, err = courier.Stale(t, cur)
		return err
	}); err != nil || len(old) == 0 {
		return err
	}
	if _, err := s.keyring.Key(cur); err != nil {
		return fmt.Errorf("locker: epoch key: %w", err)
	}
	return s.update(func(t *txn) error { return s.couriers.Reseal(t.st, old, cur) })
}

// loginCourier checks a badge token and PIN and returns the courier. A known badge
// with a wrong PIN counts against that badge alone, so that an attack on one badge
// locks out no one else; an unknown badge counts against the station's courier
// lock-out, the outer bound, which known badges do not wait for. A malformed token or
// PIN (courier.BadgeDigest) costs no guess. Callers hold s.mu.
func (s *Station) loginCourier(badge, pin string, now time.Time) (Courier, error) {
	b, err := courier.BadgeDigest(s.keys, badge, pin)
	if errors.Is(err, courier.ErrFormat) {
		return Courier{}, ErrBadCredentials
	} else if err != nil {
		return Courier{}, err
	}
	var r *store.CourierRecord
	var c courier.Content
	var ok bool
	if err := s.store.View(func(t store.Tx) (err error) {
		r, c, ok, err = s.couriers.Lookup(t, b, s.liveEpochs())
		return err
	}); err != nil {
		return Courier{}, fmt.Errorf("locker: courier lookup: %w", err)
	}
	if !ok {
		if d := s.courThr.Check(s.policy.CourierThrottle, now); d > 0 {
			return Courier{}, &ThrottledError{RetryAfter: d}
		}
		return Courier{}, s.failThrottle(&s.courThr, s.policy.CourierThrottle, store.MetaCourierThrottle, ThrottleCourier, ErrBadCredentials)
	}
	if d := c.Lockout.Check(s.policy.CourierThrottle, now); d > 0 {
		return Courier{}, &ThrottledError{RetryAfter: d}
	}
	if right, err := c.CheckPIN(s.keys, badge, pin); err != nil {
		return Courier{}, err
	} else if !right {
		return Courier{}, s.failBadge(r, c, now)
	}
	if c.Lockout.Failures > 0 {
		c.Lockout = gate.Lockout{}
		if err := s.rewriteCourier(r, c, nil); err != nil {
			return Courier{}, err
		}
	}
	if err := s.resetThrottle(&s.courThr, store.MetaCourierThrottle); err != nil {
		return Courier{}, err
	}
	return c.Courier(), nil
}

// failBadge counts a wrong PIN against the badge of record r.
func (s *Station) failBadge(r *store.CourierRecord, c courier.Content, now time.Time) error {
	d := c.Lockout.Fail(s.policy.CourierThrottle, now)
	var ev *Event
	if d > 0 {
		e := gate.Throttled(ThrottleCourier, c.ID, c.Lockout.Failures, d, fmt.Sprintf("one courier badge locked for %v", d))
		ev = &e
	}
	if err := s.rewriteCourier(r, c, ev); err != nil {
		return fmt.Errorf("locker: record failure: %w", err)
	}
	if d > 0 {
		s.log.Warn("entry throttled", "source", ThrottleCourier, "scope", "badge", "failures", c.Lockout.Failures, "locked_for", d)
		return &ThrottledError{RetryAfter: d}
	}
	return ErrBadCredentials
}

// rewriteCourier stores c in place of record r, in r's epoch and slot, with ev if any.
func (s *Station) rewriteCourier(r *store.CourierRecord, c courier.Content, ev *Event) error {
	return s.update(func(t *txn) error {
		if err := s.couriers.Rewrite(t.st, r, c); err != nil {
			return err
		}
		if ev != nil {
			return t.emit(*ev)
		}
		return nil
	})
}
