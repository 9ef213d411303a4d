package locker

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/lockerd/lockerd/locker/policy"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// newID returns a random 128-bit id in hex, for events, sessions and unannounced parcels.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("locker: no randomness: " + err.Error()) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// txn is one state transition: a store transaction (one commit, docs/adr/0038-store-boundary.md)
// plus the in-memory changes that become visible only if it commits.
type txn struct {
	s      *Station
	st     store.Tx
	now    time.Time
	comps  map[CompartmentID]*Compartment
	events []Event
}

// comp returns the transaction's copy of compartment id (nil when unknown).
func (t *txn) comp(id CompartmentID) *Compartment {
	if c, ok := t.comps[id]; ok {
		return c
	}
	c, ok := t.s.comps[id]
	if !ok {
		return nil
	}
	c = c.Clone()
	t.comps[id] = c
	return c
}

func (t *txn) parcel(id ParcelID) (*Parcel, error) { return readParcel(t.st, id) }

// putParcel stores p (nil deletes) replacing old (nil when new); the store moves its
// index rows and its epoch's reference count along.
func (t *txn) putParcel(old, p *Parcel) error {
	if p != nil {
		p.Updated = t.now
	}
	return t.st.PutParcel(old.Record(), p.Record())
}

// The transition as door.Tx sees it.
func (t *txn) Now() time.Time                            { return t.now }
func (t *txn) Policy() *policy.Policy                    { return &t.s.policy }
func (t *txn) Comp(id CompartmentID) *Compartment        { return t.comp(id) }
func (t *txn) Parcel(id ParcelID) (*Parcel, error)       { return t.parcel(id) }
func (t *txn) PutParcel(old, p *Parcel) error            { return t.putParcel(old, p) }
func (t *txn) Emit(e Event) error                        { return t.emit(e) }
func (t *txn) OpenWaybill(sealed []byte) *privacy.Digest { return t.s.openOpWaybill(sealed) }
func (t *txn) SealWaybill(e uint32, d privacy.Digest) ([]byte, error) {
	return t.s.index.SealWaybill(e, d)
}

// emit records e in the audit chain and the outbox, in this transaction.
func (t *txn) emit(e Event) error {
	e.Seq, e.ID, e.At = t.st.NextSeq(), newID(), t.now
	payload, err := json.Marshal(e)
	if err != nil {
		return err
	}
	// The audit log is kept for a year: it gets no waybill digest, and names couriers
	// and operators by their pseudonyms (ADR 0065). The event as sent keeps both, in a
	// trailer sealed until it is delivered (ADR 0060).
	logged, named, err := t.s.subjects.AuditForm(t.st, t.s.epochOf(t.now), e)
	if err != nil {
		return err
	}
	auditPayload := payload
	if e.Waybill != nil || named {
		logged.Waybill = nil
		if auditPayload, err = json.Marshal(logged); err != nil {
			return err
		}
	}
	if err := t.st.Append(auditPayload, payload, t.s.epochOf(t.now)); err != nil {
		return err
	}
	t.events = append(t.events, e)
	return nil
}

// update runs fn as one transition: it commits to disk first and only then makes the new
// compartment states visible and tells the observer. Callers hold s.mu.
func (s *Station) update(fn func(t *txn) error) error {
	t := &txn{s: s, now: s.clock.Now(), comps: map[CompartmentID]*Compartment{}}
	err := s.store.Update(func(st store.Tx) error {
		t.st = st
		if err := fn(t); err != nil {
			return err
		}
		for id, c := range t.comps {
			stored, err := s.subjects.AtRest(c, s.epochOf(t.now))
			if err != nil {
				return err
			}
			if err := st.PutCompartment(uint16(id), stored); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, c := range t.comps {
		s.comps[id] = c
	}
	for _, e := range t.events {
		// One line per event at the default level, without who: the actor (a
		// courier's or operator's id) and the reason (which names a courier on an
		// upsert or revoke, and carries an operator's words on a remote open) are
		// logged at debug only. The journal keeps what info logs for months; who did
		// what is the audit log's, which is pruned (ADR 0030, ADR 0048).
		s.log.Info("event", e.LogAttrs()...)
		if e.Actor != "" || e.Reason != "" {
			s.log.Debug("event detail", "seq", e.Seq, "actor", e.Actor, "reason", e.Reason)
		}
		if s.observer != nil {
			s.observer(e)
		}
	}
	if len(t.events) > 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return nil
}
