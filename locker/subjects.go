package locker

import (
	"context"
	"fmt"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/subject"
)

// The audit log names couriers and operators by keyed pseudonyms, and the cloud can
// erase one subject's (locker/subject, docs/adr/0065-audit-actors-as-pseudonyms.md).

// collectSubjectKeys drops the subject rows of shredded epochs and destroys the keys no
// row names: at start and after each shredding pass. Callers hold s.mu (or own the
// station, at start).
func (s *Station) collectSubjectKeys() error { return s.subjects.CollectIn(s.store) }

// EraseSubject erases data subject id (a courier's or an operator's id) from the audit
// log's reach: its pseudonyms in every live epoch lose their keys, so no entry can be
// linked to it any more, while every entry, and so the chain, stays as it was; the
// parcels it deposited forget who did. The erasure is audited without naming the
// subject; reason names who asked (a command's reason). It returns how many keys were destroyed (0: the station knew nothing of id).
func (s *Station) EraseSubject(ctx context.Context, id, reason string) (int, error) {
	if !subject.Personal(id) {
		return 0, fmt.Errorf("%w: %q is not a courier's or an operator's id", ErrState, id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	var slots []uint32
	err := s.update(func(t *txn) (err error) {
		if slots, err = s.subjects.Erase(t.st, id, s.liveEpochs()); err != nil {
			return err
		}
		return t.emit(Event{Type: model.EvSubjectErased, Actor: model.ActorCloud, Count: len(slots), Reason: reason})
	})
	if err != nil {
		return 0, fmt.Errorf("locker: erase subject: %w", err)
	}
	// After the commit: a crash before this leaves keys that no row names, which
	// the next start destroys.
	if err := s.subjects.Destroy(slots); err != nil {
		return 0, err
	}
	return len(slots), nil
}

// SubjectPseudonyms returns subject id's pseudonyms in the live epochs, newest first:
// the audit entries the station can still link to it.
func (s *Station) SubjectPseudonyms(id string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subjects.LinkIn(s.store, id, s.liveEpochs())
}

// SubjectKey returns a keyed digest of subject id for a short-lived record outside the
// audit log (subject.EntityKey under the audit key, which is not shredded).
func (s *Station) SubjectKey(id string) string { return subject.EntityKey(s.keys.AuditKey(), id) }
