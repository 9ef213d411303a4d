package locker

import (
	"slices"

	"github.com/lockerd/lockerd/locker/store"
)

// CompartmentView is a compartment as operators see it: no personal data.
type CompartmentView struct {
	Compartment
	ParcelStates []ParcelState `json:"parcel_states,omitempty"`
}

// Inventory returns every compartment with the states of the parcels in it.
func (s *Station) Inventory() ([]CompartmentView, error) {
	s.mu.Lock()
	comps := make([]*Compartment, 0, len(s.order))
	for _, id := range s.order {
		comps = append(comps, s.comps[id].Clone())
	}
	s.mu.Unlock()
	out := make([]CompartmentView, 0, len(comps))
	err := s.store.View(func(t store.Tx) error {
		for _, c := range comps {
			v := CompartmentView{Compartment: *c}
			v.OpWaybill, v.UnverifiedWaybill = nil, nil // sealed, but stable and linkable
			for _, pid := range c.Parcels {
				p, err := readParcel(t, pid)
				if err != nil {
					return err
				}
				v.ParcelStates = append(v.ParcelStates, p.State)
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// Status is a summary for health reports.
type Status struct {
	LockerID      string              `json:"locker_id"`
	Compartments  int                 `json:"compartments"`
	Free          int                 `json:"free"`
	Faulted       int                 `json:"faulted"`
	Disabled      int                 `json:"disabled"`
	Busy          int                 `json:"busy"`
	Parcels       map[ParcelState]int `json:"parcels"`
	Outbox        int                 `json:"outbox"`
	AuditSeq      uint64              `json:"audit_seq"`
	PolicyVersion int                 `json:"policy_version"`
	Epochs        int                 `json:"epochs"`
	// LegacyParcels counts the waiting parcels still under a scheme-1 verifier, and
	// CodeFailures24h the failed code evaluations of the last 24 hours (ADR 0046).
	LegacyParcels   int   `json:"legacy_parcels,omitempty"`
	CodeFailures24h int64 `json:"code_failures_24h,omitempty"`
}

// Status counts compartments and parcels.
func (s *Station) Status() (Status, error) {
	s.mu.Lock()
	st := Status{LockerID: s.id, Compartments: len(s.order), AuditSeq: s.store.Seq(),
		PolicyVersion: s.policy.Version, Parcels: map[ParcelState]int{}, Epochs: len(s.epochKeys()),
		CodeFailures24h: s.codeGate.Hours.Sum(s.clock.Now())}
	for _, id := range s.order {
		c := s.comps[id]
		switch {
		case c.Fault != "":
			st.Faulted++
		case c.Disabled:
			st.Disabled++
		case c.Op != OpNone:
			st.Busy++
		case c.Usable():
			st.Free++
		}
	}
	s.mu.Unlock()
	err := s.store.View(func(t store.Tx) error {
		st.Outbox = t.OutboxLen()
		counts, err := t.CountStates()
		if err != nil {
			return err
		}
		for state, n := range counts {
			st.Parcels[ParcelState(state)] = n
		}
		st.LegacyParcels, err = t.CountLegacy()
		return err
	})
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
