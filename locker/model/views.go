package model

// Pickup is what a recipient's code opened: doors that unlocked, and for a staffed
// station the shelf slots where staff will find the parcels.
type Pickup struct {
	Slots []Slot `json:"slots"`
	// Failed lists doors that should have opened but could not be pulsed or are
	// out of service: the recipient needs staff or the hotline for those.
	Failed []Slot `json:"failed,omitempty"`
	// Handover, when this code's parcels include some on shelves, names this code
	// entry: staff confirm each of those parcels by scanning it, with this value
	// (Station.Handover), within the policy's handover_timeout. Only this entry's
	// parcels match it, whoever else is waiting at the counter.
	Handover string `json:"handover,omitempty"`
}

// Unpulsed moves sl, whose door could not be unlocked, from
// Slots to Failed.
func (p *Pickup) Unpulsed(sl Slot) {
	p.Failed = append(p.Failed, sl)
	p.Slots = RemoveSlot(p.Slots, sl.Compartment)
}

// RemoveSlot returns slots without compartment id's, reusing their array.
func RemoveSlot(slots []Slot, id CompartmentID) []Slot {
	out := slots[:0]
	for _, s := range slots {
		if s.Compartment != id {
			out = append(out, s)
		}
	}
	return out
}

// CompartmentView is a compartment as operators see it: no personal data.
type CompartmentView struct {
	Compartment
	ParcelStates []ParcelState `json:"parcel_states,omitempty"`
}

// ViewOf is c as operators see it, without the parcels' states: the sealed waybill
// digests c may keep are left out, being stable and linkable.
func ViewOf(c Compartment) CompartmentView {
	v := CompartmentView{Compartment: c}
	v.OpWaybill, v.UnverifiedWaybill = nil, nil
	return v
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

// Count counts c in st: faulted, else disabled, else busy, else free if usable.
func (st *Status) Count(c *Compartment) {
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

// Counter is what CountStored needs of a read transaction (store.Tx).
type Counter interface {
	OutboxLen() int
	CountStates() (map[string]int, error)
	CountLegacy() (int, error)
}

// CountStored adds what the store counts: the undelivered events, the parcels by
// state and those under a scheme-1 verifier.
func (st *Status) CountStored(t Counter) error {
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
}

// LogAttrs are e's attributes for the journal's one line per event: no actor and no
// reason, which name who did what (the audit log's, ADR 0030, ADR 0048).
func (e Event) LogAttrs() []any {
	a := []any{"seq", e.Seq, "type", string(e.Type)}
	if e.Parcel != "" {
		a = append(a, "parcel", string(e.Parcel))
	}
	if e.Compartment != 0 {
		a = append(a, "compartment", int(e.Compartment), "gen", e.Generation)
	}
	if len(e.Report) > 0 {
		a = append(a, "report", string(e.Report))
	}
	return a
}
