package locker

import (
	"slices"

	"github.com/lockerd/lockerd/locker/lookup"
	"github.com/lockerd/lockerd/locker/store"
)

// Inventory returns every compartment with the states of the parcels in it.
func (s *Station) Inventory() ([]CompartmentView, error) {
	s.mu.Lock()
	comps := make([]*Compartment, 0, len(s.order))
	for _, id := range s.order {
		comps = append(comps, s.comps[id].Clone())
	}
	s.mu.Unlock()
	var out []CompartmentView
	err := s.store.View(func(t store.Tx) (err error) {
		out, err = lookup.Views(t, comps)
		return err
	})
	return out, err
}

// Status counts compartments and parcels.
func (s *Station) Status() (Status, error) {
	s.mu.Lock()
	st := Status{LockerID: s.id, Compartments: len(s.order), AuditSeq: s.store.Seq(),
		PolicyVersion: s.policy.Version, Parcels: map[ParcelState]int{}, Epochs: len(s.epochKeys()),
		CodeFailures24h: s.codeGate.Hours.Sum(s.clock.Now())}
	for _, id := range s.order {
		st.Count(s.comps[id])
	}
	s.mu.Unlock()
	err := s.store.View(func(t store.Tx) error { return st.CountStored(t) })
	return st, err
}

// Compartments returns a copy of every compartment, in id order.
func (s *Station) Compartments() []Compartment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Compartment, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, *s.comps[id].Clone())
	}
	return slices.Clip(out)
}

// ParcelInfo returns a stored parcel record (sealed digests, state, compartment).
func (s *Station) ParcelInfo(id ParcelID) (Parcel, error) {
	var p *Parcel
	err := s.store.View(func(t store.Tx) error {
		var err error
		p, err = readParcel(t, id)
		return err
	})
	if err != nil {
		return Parcel{}, err
	}
	return *p, nil
}
