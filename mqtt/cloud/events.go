package cloud

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Event is an event received from a locker, decoded and checked.
type Event struct {
	LockerID string
	protocol.Event
	Body protocol.EventBody
}

// EventStats counts what the client saw on the event topics.
type EventStats struct {
	Received   uint64 // valid events, duplicates included
	Duplicates uint64 // dropped because their id was seen before
	OutOfOrder uint64 // first seen with a seq not above the locker's last
	Invalid    uint64 // payloads that failed to decode
	Dropped    uint64 // dropped because the buffer was full
}

// eventState holds the event queue, the de-duplication window and the last
// presence of each locker. Its methods are called from paho's router
// goroutine and must not block.
type eventState struct {
	mu      sync.Mutex
	queue   []Event
	maxLen  int
	seen    map[string]struct{}
	order   []string // ids in arrival order, a ring of len window
	next    int
	lastSeq map[string]uint64
	stats   EventStats
	closed  bool

	presence map[string]protocol.Presence
	changed  chan struct{} // closed and replaced on every new event or presence
}

func newEventState(maxLen, window int) eventState {
	return eventState{
		maxLen: maxLen, seen: make(map[string]struct{}, window), order: make([]string, window),
		lastSeq: make(map[string]uint64), presence: make(map[string]protocol.Presence),
		changed: make(chan struct{}),
	}
}

// notify wakes every waiter; call with mu held.
func (s *eventState) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *eventState) onEvent(log *slog.Logger, lockerID string, payload []byte) {
	ev, body, err := protocol.DecodeEvent(payload)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.stats.Invalid++
		log.Warn("invalid event ignored", "locker", lockerID, "err", err)
		return
	}
	s.stats.Received++
	key := lockerID + "/" + ev.ID
	if _, dup := s.seen[key]; dup {
		s.stats.Duplicates++
		return
	}
	if old := s.order[s.next]; old != "" {
		delete(s.seen, old)
	}
	s.order[s.next] = key
	s.next = (s.next + 1) % len(s.order)
	s.seen[key] = struct{}{}
	if ev.Seq <= s.lastSeq[lockerID] {
		s.stats.OutOfOrder++
		log.Warn("event out of order", "locker", lockerID, "seq", ev.Seq, "last_seq", s.lastSeq[lockerID])
	} else {
		s.lastSeq[lockerID] = ev.Seq
	}
	if len(s.queue) >= s.maxLen {
		s.stats.Dropped++
		log.Error("event dropped: buffer full", "locker", lockerID, "seq", ev.Seq)
		return
	}
	s.queue = append(s.queue, Event{LockerID: lockerID, Event: *ev, Body: body})
	s.notify()
}

func (s *eventState) onPresence(log *slog.Logger, lockerID string, payload []byte) {
	if len(payload) == 0 {
		return // a cleared retained message
	}
	p, err := protocol.DecodePresence(payload)
	if err != nil {
		log.Warn("invalid presence ignored", "locker", lockerID, "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.presence[lockerID] = *p
	s.notify()
}

// NextEvent returns the next new event (each id once), waiting until one
// arrives or ctx ends.
func (c *Client) NextEvent(ctx context.Context) (Event, error) {
	s := &c.events
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = Event{}
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return ev, nil
		}
		closed, changed := s.closed, s.changed
		s.mu.Unlock()
		if closed {
			return Event{}, ErrClosed
		}
		select {
		case <-ctx.Done():
			return Event{}, fmt.Errorf("cloud: waiting for an event: %w", ctx.Err())
		case <-changed:
		}
	}
}

// EventStats returns the event counters.
func (c *Client) EventStats() EventStats {
	c.events.mu.Lock()
	defer c.events.mu.Unlock()
	return c.events.stats
}

// Presence returns the last presence seen for a locker.
func (c *Client) Presence(lockerID string) (protocol.Presence, bool) {
	c.events.mu.Lock()
	defer c.events.mu.Unlock()
	p, ok := c.events.presence[lockerID]
	return p, ok
}

// AwaitPresence waits until the locker's presence satisfies match (for
// example: online with a new boot id) and returns it.
func (c *Client) AwaitPresence(ctx context.Context, lockerID string, match func(protocol.Presence) bool) (protocol.Presence, error) {
	s := &c.events
	for {
		s.mu.Lock()
		p, ok := s.presence[lockerID]
		closed, changed := s.closed, s.changed
		s.mu.Unlock()
		if ok && match(p) {
			return p, nil
		}
		if closed {
			return protocol.Presence{}, ErrClosed
		}
		select {
		case <-ctx.Done():
			return protocol.Presence{}, fmt.Errorf("cloud: waiting for presence of %s: %w", lockerID, ctx.Err())
		case <-changed:
		}
	}
}

// close wakes every waiter with ErrClosed.
func (s *eventState) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.notify()
}
