package session

import (
	"slices"

	"github.com/lockerd/lockerd/locker/model"
)

// Hold holds back a door's sensed changes while an unlock of that door is under way,
// so that the unlock's outcome is recorded first (docs/adr/0053): a board that
// confirms an unlock by a status read reports the opened latch in that same read.
type Hold struct {
	pulses  int    // unlocks of this door under way
	changes []bool // door changes reported meanwhile, in order (open = true)
}

// Opened reports whether the door was reported open while held.
func (h *Hold) Opened() bool { return h != nil && slices.Contains(h.changes, true) }

// Changes returns the door changes held, in order (open = true).
func (h *Hold) Changes() []bool { return h.changes }

// Holds are the doors whose unlock is under way.
type Holds map[model.CompartmentID]*Hold

// Begin starts an unlock of door id and returns its hold.
func (m Holds) Begin(id model.CompartmentID) *Hold {
	h := m[id]
	if h == nil {
		h = &Hold{}
		m[id] = h
	}
	h.pulses++
	return h
}

// End ends an unlock of door id begun with hold h, and reports whether it was the
// last under way: the hold then ends, and the changes it held are to be recorded.
func (m Holds) End(id model.CompartmentID, h *Hold) bool {
	h.pulses--
	if h.pulses > 0 {
		return false
	}
	delete(m, id)
	return true
}

// Held holds a change of door id, and reports true, while an unlock of it is under way.
func (m Holds) Held(id model.CompartmentID, open bool) bool {
	h := m[id]
	if h == nil {
		return false
	}
	h.changes = append(h.changes, open)
	return true
}
