package locker

import (
	"fmt"
	"slices"
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
		comps = append(comps, s.comps[id].clone())
	}
	s.mu.Unlock()
	out := make([]CompartmentView, 0, len(comps))
	err := s.view(func(tx *boltTx) error {
		for _, c := range comps {
			v := CompartmentView{Compartment: *c}
			v.OpWaybill, v.UnverifiedWaybill = nil, nil // sealed, but stable and linkable
			for _, pid := range c.Parcels {
				p, err := readParcel(tx, pid)
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
}

// Status counts compartments and parcels.
func (s *Station) Status() (Status, error) {
	s.mu.Lock()
	st := Status{LockerID: s.id, Compartments: len(s.order), AuditSeq: s.head.Seq,
		PolicyVersion: s.policy.Version, Parcels: map[ParcelState]int{}, Epochs: len(s.keyring.Epochs())}
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
	err := s.view(func(tx *boltTx) error {
		st.Outbox = tx.Bucket(bucketOutbox).Stats().KeyN
		// Only the state byte of each record is read: status is asked for often, and
		// decoding 100,000 records for a count would show.
		byCode := map[byte]ParcelState{}
		for s, c := range stateCodes {
			byCode[c] = s
		}
		return tx.Bucket(bucketParcels).ForEach(func(k, v []byte) error {
			if len(v) < 3 || v[0] != recordVersion || byCode[v[2]] == "" {
				return fmt.Errorf("locker: parcel record %q: %w", k, errRecord)
			}
			st.Parcels[byCode[v[2]]]++
			return nil
		})
	})
	return st, err
}

// Compartments returns a copy of every compartment, in id order.
func (s *Station) Compartments() []Compartment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Compartment, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, *s.comps[id].clone())
	}
	return slices.Clip(out)
}

// ParcelInfo returns a stored parcel record (sealed digests, state, compartment).
func (s *Station) ParcelInfo(id ParcelID) (Parcel, error) {
	var p *Parcel
	err := s.view(func(tx *boltTx) error {
		var err error
		p, err = readParcel(tx, id)
		return err
	})
	if err != nil {
		return Parcel{}, err
	}
	return *p, nil
}
