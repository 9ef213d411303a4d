package locker

import (
	"context"
	"errors"
	"fmt"

	"github.com/lockerd/lockerd/locker/announce"
	"github.com/lockerd/lockerd/locker/door"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// Announce applies a batch of announcements in one transaction. Re-announcing a parcel
// that is still waiting updates its size, verifier and deadline (announcements are
// idempotent); a parcel already deposited or gone is left alone. It returns one error per
// announcement (nil for applied), in order.
func (s *Station) Announce(ctx context.Context, batch []Announcement) ([]error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var results []error
	err := s.atomically(func(tx *Tx) error {
		var err error
		results, err = tx.Announce(batch)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("locker: announce: %w", err)
	}
	return results, nil
}

// announceIn is the body of Announce inside a transition (announce.Apply). It returns
// the number of parcels applied, which the announced event of the transition counts
// (Station.atomically).
func (s *Station) announceIn(t *txn, batch []Announcement) (results []error, applied int, err error) {
	return announce.Apply(t, parcelIndex{s, t.st}, batch, s.epochOf(t.now))
}

// parcelIndex is the station's index in store transaction t, as announce.Index.
type parcelIndex struct {
	s *Station
	t store.Tx
}

func (x parcelIndex) Seal(e uint32, d privacy.Digest) (privacy.Digest, error) {
	return x.s.index.Seal(e, d)
}
func (x parcelIndex) ByWaybill(d privacy.Digest) (*Parcel, error) { return x.s.findByWaybill(x.t, d) }

// changeParcel applies fn to one stored parcel in its own transition.
func (s *Station) changeParcel(id ParcelID, fn func(t *txn, p *Parcel) (*Parcel, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.update(func(t *txn) error {
		p, err := t.parcel(id)
		if err != nil {
			return err
		}
		np, err := fn(t, p)
		if err != nil || np == nil {
			return err
		}
		return t.putParcel(p, np)
	})
}

// SetVerifier sets or replaces the verifiers of a waiting or deposited parcel (a new
// code or QR sent to the recipient): those given replace the old, whose codes stop
// working; a scheme-2 code verifier also replaces a scheme-1 one. legacy (a scheme-1
// verifier) needs the policy's legacy_codes.
func (s *Station) SetVerifier(ctx context.Context, id ParcelID, v Verifiers, legacy privacy.Digest) error {
	if v == (Verifiers{}) && legacy.IsZero() {
		return errors.New("locker: verifier missing")
	}
	return s.changeParcel(id, func(t *txn, p *Parcel) (*Parcel, error) {
		return announce.SetVerifiers(t, s.index, p, v, legacy)
	})
}

// CancelParcel withdraws an announced parcel. A parcel already in a compartment is
// recalled instead: its code stops working and a courier retrieves it (announce.Cancel).
func (s *Station) CancelParcel(ctx context.Context, id ParcelID, reason string) error {
	return s.changeParcel(id, func(t *txn, p *Parcel) (*Parcel, error) { return announce.Cancel(t, p, reason) })
}

// Recall stops a deposited or expired parcel's code and marks it for retrieval.
func (s *Station) Recall(ctx context.Context, id ParcelID, reason string) error {
	return s.changeParcel(id, func(t *txn, p *Parcel) (*Parcel, error) { return announce.Recall(t, p, reason) })
}

// OpenCompartment opens a door on an operator's command. The door's parcel, if any,
// does not change state: the operator answers for what they take out. The reason and
// operator are audited.
func (s *Station) OpenCompartment(ctx context.Context, id CompartmentID, operator, reason string) error {
	s.mu.Lock()
	c := s.comps[id]
	if c == nil {
		s.mu.Unlock()
		return ErrUnknownCompartment
	}
	if c.Kind != KindDoor {
		s.mu.Unlock()
		return fmt.Errorf("%w: compartment %d is a shelf: nothing to open", ErrState, id)
	}
	var slot Slot
	err := s.update(func(t *txn) error {
		c := t.comp(id)
		slot = model.SlotOf(c, nil)
		return door.Operator(t, c, operator, reason)
	})
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.pulse(ctx, slot)
}

// SetEnabled disables a compartment (no new parcels go in; those inside stay and can be
// picked up) or enables it again, which also clears a fault (door.SetEnabled).
func (s *Station) SetEnabled(ctx context.Context, id CompartmentID, enabled bool, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.comps[id] == nil {
		return ErrUnknownCompartment
	}
	return s.update(func(t *txn) error { return door.SetEnabled(t, t.comp(id), enabled, reason) })
}

// SetPolicy replaces the policy with a newer version.
func (s *Station) SetPolicy(ctx context.Context, p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Version <= s.policy.Version {
		return fmt.Errorf("%w: policy version %d is not newer than %d", ErrState, p.Version, s.policy.Version)
	}
	if p.EpochLength != s.policy.EpochLength {
		return errors.New("locker: epoch_length cannot change on a running station")
	}
	err := s.update(func(t *txn) error {
		if err := t.st.PutMeta(store.MetaPolicy, p); err != nil {
			return err
		}
		return t.emit(Event{Type: EvPolicyChanged, Count: p.Version, Actor: "cloud"})
	})
	if err == nil {
		s.policy = p
	}
	return err
}
