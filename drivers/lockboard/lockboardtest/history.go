package lockboardtest

import (
	"context"
	"fmt"
	"time"
)

// EventKind is what happened. Values are stable.
type EventKind int

// Event kinds.
const (
	EventUnlock     EventKind = 1 // an unlock command reached the board
	EventJam        EventKind = 2 // the lock did not release
	EventDoorOpen   EventKind = 3
	EventDoorClose  EventKind = 4
	EventRelatch    EventKind = 5 // the latch re-engaged with the door shut
	EventUnplug     EventKind = 6
	EventReplug     EventKind = 7
	EventDisconnect EventKind = 8 // the client closed the port or died
)

// String names the kind.
func (k EventKind) String() string {
	switch k {
	case EventUnlock:
		return "unlock"
	case EventJam:
		return "jam"
	case EventDoorOpen:
		return "door-open"
	case EventDoorClose:
		return "door-close"
	case EventRelatch:
		return "relatch"
	case EventUnplug:
		return "unplug"
	case EventReplug:
		return "replug"
	case EventDisconnect:
		return "disconnect"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one entry of the history. Board and Lock are zero for events of
// the whole bus (unplug, replug, disconnect).
type Event struct {
	Seq    uint64 // 1, 2, ... in order of occurrence
	At     time.Time
	Board  int
	Lock   int
	Kind   EventKind
	Forced bool // caused by SetDoor rather than a person policy
}

// String formats the event for test failures.
func (e Event) String() string {
	f := ""
	if e.Forced {
		f = " (forced)"
	}
	return fmt.Sprintf("#%d %s board %d lock %d%s", e.Seq, e.Kind, e.Board, e.Lock, f)
}

func (s *Set) recordLocked(e Event) {
	if s.closed {
		return
	}
	s.seq++
	e.Seq = s.seq
	e.At = time.Now()
	s.history = append(s.history, e)
	if over := len(s.history) - s.cfg.HistoryLimit; over > 0 {
		s.history = append(s.history[:0], s.history[over:]...)
	}
	close(s.notify)
	s.notify = make(chan struct{})
}

// History returns a copy of the recorded events, oldest first.
func (s *Set) History() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.history...)
}

// LastSeq returns the sequence number of the latest event, to pass to
// WaitEvent so that only later events match.
func (s *Set) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// WaitEvent returns the first event after sequence number after for which
// match is true, waiting for it until ctx ends.
func (s *Set) WaitEvent(ctx context.Context, after uint64, match func(Event) bool) (Event, error) {
	for {
		s.mu.Lock()
		for _, e := range s.history {
			if e.Seq > after && match(e) {
				s.mu.Unlock()
				return e, nil
			}
		}
		if s.closed {
			s.mu.Unlock()
			return Event{}, ErrClosed
		}
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Event{}, fmt.Errorf("lockboardtest: waiting for event: %w", ctx.Err())
		case <-ch:
		}
	}
}

// Is returns a matcher for WaitEvent: an event of kind at board, lock.
func Is(kind EventKind, board, lock int) func(Event) bool {
	return func(e Event) bool { return e.Kind == kind && e.Board == board && e.Lock == lock }
}
