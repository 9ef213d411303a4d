package locker

import (
	"fmt"
	"time"
)

func (s *Station) shredDue(now time.Time) bool {
	// A past epoch whose parcels still wait keeps its key for days: look again hourly,
	// not on every timer pass (each look scans the outbox).
	if now.Sub(s.lastShred) < time.Hour {
		return false
	}
	e := s.keyring.Epochs()
	return len(e) > 0 && e[0] < s.epochOf(now)
}

// shredLocked destroys the key of every past epoch that no stored record uses: whatever
// copies of its sealed digests remain in free pages of the store become unlinkable.
func (s *Station) shredLocked(now time.Time) error {
	s.lastShred = now
	if err := s.resealCouriers(now); err != nil {
		return err
	}
	current := s.epochOf(now)
	var past []uint32
	for _, e := range s.keyring.Epochs() {
		if e < current {
			past = append(past, e)
		}
	}
	dead, err := s.store.UnusedEpochs(past)
	if err != nil {
		return err
	}
	for _, e := range dead {
		if err := s.keyring.Destroy(e); err != nil {
			return fmt.Errorf("locker: shred epoch %d: %w", e, err)
		}
		s.log.Info("epoch key destroyed", "epoch", e)
	}
	if len(dead) == 0 {
		return nil
	}
	if err := s.store.ForgetEpochs(dead); err != nil {
		return err
	}
	// The subjects' keys of those epochs go with them (ADR 0065).
	return s.collectSubjectKeys()
}
