package locker

import (
	"context"
	"errors"
	"fmt"

	"github.com/lockerd/lockerd/locker/door"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/session"
	"github.com/lockerd/lockerd/locker/store"
	"github.com/lockerd/lockerd/locker/waybill"
)

// Login authenticates a courier by badge (or QR) token and PIN, both checked only as
// keyed digests, and opens a session for scan after scan. A wrong PIN counts against
// that badge's throttle, an unknown badge against the station's (loginCourier).
func (s *Station) Login(ctx context.Context, badge, pin string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", ErrClosed
	}
	now := s.clock.Now()
	c, err := s.loginCourier(badge, pin, now)
	if err != nil {
		return "", err
	}
	id := newID()
	s.sessions.Open(id, c, now)
	s.log.Debug("courier logged in", "courier", c.ID) // debug: the journal names no one at info
	return id, nil
}

// Logout ends a courier session. Deposits under way continue: their doors closing
// still confirms them.
func (s *Station) Logout(sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sid)
}

// sessionLocked returns courier session sid, active now (session.Sessions.Active).
func (s *Station) sessionLocked(sid string) (*session.Session, error) {
	se, ok := s.sessions.Active(sid, s.clock.Now(), s.policy.SessionIdle)
	if !ok {
		return nil, ErrNotLoggedIn
	}
	return se, nil
}

// Scan takes a courier's scan of a parcel: it normalises and validates the tracking
// number, digests it, matches it to an announced parcel (or registers an unannounced one
// of the given size), reserves the best-fitting free compartment and unlocks it. The
// door closing confirms the deposit. size may be SizeUnknown for announced parcels.
func (s *Station) Scan(ctx context.Context, sid string, raw string, size Size) (Slot, error) {
	canonical, err := waybill.Normalise(raw)
	if err != nil {
		return Slot{}, fmt.Errorf("locker: scan refused: %w", err)
	}
	d, err := privacy.WaybillDigest(s.keys, canonical)
	if err != nil {
		return Slot{}, fmt.Errorf("locker: key store: %w", err)
	}
	hint := waybill.Hint(canonical)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Slot{}, ErrClosed
	}
	se, err := s.sessionLocked(sid)
	if err != nil {
		s.mu.Unlock()
		return Slot{}, err
	}
	if !se.Courier.Rights.Deposit {
		s.mu.Unlock()
		return Slot{}, ErrNoRights
	}
	now := s.clock.Now()
	if s.recentScan.Recent(d, now, s.policy.DuplicateScanWindow) {
		s.mu.Unlock()
		return Slot{}, ErrDuplicateScan
	}
	slot, err := s.reserveLocked(se, d, hint, size)
	if err != nil {
		// A refused scan (size needed, no free compartment, busy) is not a deposit:
		// the courier's retry with the size, or once a door is free, must go through.
		s.mu.Unlock()
		return Slot{}, err
	}
	s.recentScan[d] = now
	s.mu.Unlock()
	return slot, s.pulse(ctx, slot)
}

// reserveLocked picks the best free compartment for the parcel with waybill digest d
// and commits the reservation. For a shelf the deposit is complete at
// once; for a door the caller pulses the lock after this returns.
func (s *Station) reserveLocked(se *session.Session, d privacy.Digest, hint string, size Size) (Slot, error) {
	var p *Parcel
	err := s.store.View(func(t store.Tx) error {
		var err error
		p, err = s.findByWaybill(t, d)
		return err
	})
	switch {
	case errors.Is(err, ErrUnknownParcel):
		if size == SizeUnknown {
			return Slot{}, ErrSizeRequired
		}
		now := s.clock.Now()
		ep := s.epochOf(now)
		sealed, err := s.index.Seal(ep, d)
		if err != nil {
			return Slot{}, fmt.Errorf("locker: %w", err)
		}
		p = &Parcel{ID: ParcelID("u-" + newID()), Epoch: ep, Waybill: sealed, Hint: hint,
			Size: size, State: StateAnnounced}
	case err != nil:
		return Slot{}, err
	case p.State.InCompartment():
		return Slot{}, ErrAlreadyHere
	case p.State != StateAnnounced:
		return Slot{}, ErrNotDepositable
	case p.Compartment != 0:
		return Slot{}, ErrBusy // a deposit of this parcel is under way
	default:
		p.Size = max(p.Size, size)
	}
	c := s.bestFit(p.Size, 0)
	if c == nil {
		return Slot{}, ErrNoFreeCompartment
	}
	var slot Slot
	err = s.update(func(t *txn) error {
		var err error
		slot, err = door.Deposit(t, t.comp(c.ID), p, se.Courier.ID, se.ID, d)
		return err
	})
	if err != nil {
		return Slot{}, fmt.Errorf("locker: reserve: %w", err)
	}
	se.Offer(slot)
	return slot, nil
}

// bestFit returns the smallest usable compartment that holds size (lowest id among
// equals), or nil. exclude skips one compartment (the one that just jammed).
func (s *Station) bestFit(size Size, exclude CompartmentID) *Compartment {
	return model.BestFit(s.comps, s.order, size, exclude, func(*Compartment) bool { return true })
}

// bestFitDoor is bestFit among door compartments only.
func (s *Station) bestFitDoor(size Size, exclude CompartmentID) *Compartment {
	return model.BestFit(s.comps, s.order, size, exclude, func(c *Compartment) bool { return c.Kind == KindDoor })
}

// Cancel undoes the courier's most recent deposit in this session. If the door is
// still open it waits for it to close; if the deposit was already confirmed, the door
// reopens and the compartment is freed when it closes again.
func (s *Station) Cancel(ctx context.Context, sid string) error {
	s.mu.Lock()
	se, err := s.sessionLocked(sid)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if len(se.Offers) == 0 {
		s.mu.Unlock()
		return ErrNoPending
	}
	slot := se.Offers[len(se.Offers)-1]
	c := s.comps[slot.Compartment]
	if c == nil || c.Generation != slot.Generation {
		s.mu.Unlock()
		return ErrNoPending // the compartment moved on: the parcel was picked up or retrieved
	}
	needPulse := false
	err = s.update(func(t *txn) error {
		var err error
		needPulse, err = door.Cancel(t, t.comp(slot.Compartment), slot.Parcel, se.Courier.ID)
		return err
	})
	if err == nil {
		se.Offers = se.Offers[:len(se.Offers)-1] // only once cancelled: a refusal keeps it
	}
	s.mu.Unlock()
	if err != nil || !needPulse {
		return err
	}
	return s.pulse(ctx, slot)
}

// Offers returns the slots of the session's deposits in this session, newest last,
// including re-offers made after a jammed door.
func (s *Station) Offers(sid string) ([]Slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.sessions[sid]
	if !ok {
		return nil, ErrNotLoggedIn
	}
	return append([]Slot(nil), se.Offers...), nil
}
