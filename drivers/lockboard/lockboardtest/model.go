package lockboardtest

import (
	"fmt"
	"time"
)

// Plan is what happens at one lock after an unlock command.
type Plan struct {
	// Jam: the lock does not release and the door stays shut.
	Jam bool
	// OpenAfter is when the person opens the door, from the unlock; negative
	// means nobody opens it.
	OpenAfter time.Duration
	// CloseAfter is when the door is shut again, from its opening; negative
	// means it is left open. Shutting the door re-engages the latch.
	CloseAfter time.Duration
	// RelatchAfter, if positive, re-engages the latch this long after the
	// unlock when the door was never opened (locks that spring back).
	RelatchAfter time.Duration
}

// Policy chooses the Plan for each unlock of board, lock.
type Policy func(board, lock int) Plan

// Stay releases the latch and nothing more: the door stays shut and the
// latch stays released until SetDoor.
func Stay() Policy {
	return func(int, int) Plan { return Plan{OpenAfter: -1, CloseAfter: -1} }
}

// OpenThenClose opens the door d1 after the unlock and shuts it d2 later;
// a negative d2 leaves it open.
func OpenThenClose(d1, d2 time.Duration) Policy {
	return func(int, int) Plan { return Plan{OpenAfter: d1, CloseAfter: d2} }
}

// Jammed makes every unlock fail mechanically: the board acknowledges, the
// lock bit never changes, the door never opens.
func Jammed() Policy {
	return func(int, int) Plan { return Plan{Jam: true} }
}

// NobodyComes releases the latch, nobody opens the door, and the latch
// springs back after relatch (never if relatch <= 0).
func NobodyComes(relatch time.Duration) Policy {
	return func(int, int) Plan { return Plan{OpenAfter: -1, CloseAfter: -1, RelatchAfter: relatch} }
}

// LockState is the physical state of one virtual lock.
type LockState struct {
	Released bool // latch released (by an unlock or a forced door)
	DoorOpen bool
}

// LockOpen is what the board reports as the lock bit: a released latch or
// an open door.
func (l LockState) LockOpen() bool { return l.Released || l.DoorOpen }

type lockState struct {
	LockState
	gen    uint64 // bumps cancel scheduled person actions
	policy Policy // per-lock override, or nil
}

type board struct {
	spec   BoardSpec
	locks  []lockState // index 0 is lock 1
	silent bool
}

func newBoard(spec BoardSpec) *board {
	return &board{spec: spec, locks: make([]lockState, spec.Locks)}
}

// bits encodes the board's state as raw lock and sensor bits.
func (b *board) bits() (locks, sensors uint32) {
	for i, l := range b.locks {
		if b.spec.Polarity.Bit(l.LockOpen()) {
			locks |= 1 << i
		}
		if b.spec.DoorSensors && b.spec.SensorPolarity.Bit(l.DoorOpen) {
			sensors |= 1 << i
		}
	}
	return locks, sensors
}

func (s *Set) lockLocked(board, lock int) (*lockState, error) {
	b := s.boards[board]
	if b == nil || lock < 1 || lock > len(b.locks) {
		return nil, fmt.Errorf("%w: board %d lock %d", ErrUnknownLock, board, lock)
	}
	return &b.locks[lock-1], nil
}

// Lock returns the state of one lock.
func (s *Set) Lock(board, lock int) (LockState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.lockLocked(board, lock)
	if err != nil {
		return LockState{}, err
	}
	return l.LockState, nil
}

// SetPolicy replaces the default person policy for later unlocks.
func (s *Set) SetPolicy(p Policy) {
	s.mu.Lock()
	s.policy = p
	s.mu.Unlock()
}

// SetLockPolicy overrides the policy for one lock; nil removes the override.
func (s *Set) SetLockPolicy(board, lock int, p Policy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.lockLocked(board, lock)
	if err != nil {
		return err
	}
	l.policy = p
	return nil
}

// SetDoor forces a door open or shut, as a person or a crowbar would,
// cancelling pending person actions on that lock. Forcing it open releases
// the latch; shutting it re-engages the latch.
func (s *Set) SetDoor(board, lock int, open bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.lockLocked(board, lock)
	if err != nil {
		return err
	}
	l.gen++
	l.DoorOpen, l.Released = open, open
	kind := EventDoorClose
	if open {
		kind = EventDoorOpen
	}
	s.recordLocked(Event{Board: board, Lock: lock, Kind: kind, Forced: true})
	return nil
}

// unlockLocked runs an unlock command through the lock's policy.
func (s *Set) unlockLocked(b *board, lock int) {
	l := &b.locks[lock-1]
	board := b.spec.Addr
	p := s.policy
	if l.policy != nil {
		p = l.policy
	}
	plan := p(board, lock)
	s.recordLocked(Event{Board: board, Lock: lock, Kind: EventUnlock})
	if plan.Jam {
		s.recordLocked(Event{Board: board, Lock: lock, Kind: EventJam})
		return
	}
	l.gen++
	gen := l.gen
	l.Released = true
	if plan.OpenAfter < 0 {
		if plan.RelatchAfter > 0 {
			s.afterLocked(plan.RelatchAfter, func() {
				if l.gen == gen && !l.DoorOpen && l.Released {
					l.Released = false
					s.recordLocked(Event{Board: board, Lock: lock, Kind: EventRelatch})
				}
			})
		}
		return
	}
	s.afterLocked(plan.OpenAfter, func() {
		if l.gen != gen {
			return
		}
		if !l.DoorOpen {
			l.DoorOpen = true
			s.recordLocked(Event{Board: board, Lock: lock, Kind: EventDoorOpen})
		}
		if plan.CloseAfter < 0 {
			return
		}
		s.afterLocked(plan.CloseAfter, func() {
			if l.gen != gen || !l.DoorOpen {
				return
			}
			l.DoorOpen, l.Released = false, false
			s.recordLocked(Event{Board: board, Lock: lock, Kind: EventDoorClose})
		})
	})
}

// afterLocked runs f with s.mu held after d, unless the Set is closed first.
func (s *Set) afterLocked(d time.Duration, f func()) {
	if s.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return
		}
		delete(s.timers, t)
		f()
	})
	s.timers[t] = struct{}{}
}
