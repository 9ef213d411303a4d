package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

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
	Reordered  uint64 // arrived ahead of a missing seq and were held back
	Gaps       uint64 // missing seqs given up on after ReorderWindow
	OutOfOrder uint64 // arrived after their gap was given up on
	Invalid    uint64 // payloads that failed to decode
	Dropped    uint64 // dropped because the buffer was full
	// Unauthenticated counts events dropped before decoding: a missing or wrong device
	// MAC, or no key for the locker (Config.EventKey). They never reach the
	// de-duplication window, so a forgery cannot shadow the genuine event of its id.
	Unauthenticated uint64
}

// maxHeld bounds the events held back per locker waiting for a gap to fill.
const maxHeld = 10000

// eventState holds the event queue, the de-duplication window, the
// per-locker reordering and the last presence of each locker. Its on*
// methods run on paho's router goroutine and never block.
//
// Ordering: brokers deliver one publisher's messages in order on a live
// connection, but not always across a broker restart (mosquitto may send a
// new message to a persistent session ahead of restored queued ones). So
// events are released in seq order per locker; an event ahead of a missing
// seq is held until the gap fills or ReorderWindow passes.
type eventState struct {
	mu      sync.Mutex
	queue   []Event
	maxLen  int
	seen    map[string]struct{}
	ring    []string // ids in arrival order, the de-duplication window
	next    int
	lockers map[string]*lockerOrder
	// waiting are the lockers with a gap being waited on (since set): what
	// expireGaps looks at on every NextEvent, rather than every locker seen.
	waiting map[string]*lockerOrder
	window  time.Duration
	lastSeq func(lockerID string) uint64
	now     func() time.Time
	stats   EventStats
	closed  bool

	presence   map[string]protocol.Presence
	presenceAt time.Time     // when the last presence message came, for Presences' quiet period
	changed    chan struct{} // closed and replaced on every change

	anchors map[string]*anchorState // per locker: its audit chain's heads (anchor.go)
	audit   AuditStats
}

// lockerOrder is the reordering state of one locker.
type lockerOrder struct {
	id      string
	next    uint64           // the seq to release next
	held    map[uint64]Event // arrived ahead of next
	since   time.Time        // when the current gap was first waited on
	handled uint64           // Config.LastSeq at the start: seqs up to it were processed before
}

func newEventState(cfg Config) eventState {
	return eventState{
		maxLen: cfg.EventBuffer, seen: make(map[string]struct{}, cfg.DedupWindow),
		ring: make([]string, cfg.DedupWindow), lockers: make(map[string]*lockerOrder),
		waiting: make(map[string]*lockerOrder),
		window:  cfg.ReorderWindow, lastSeq: cfg.LastSeq, now: cfg.Now,
		presence: make(map[string]protocol.Presence), changed: make(chan struct{}),
		anchors: make(map[string]*anchorState),
	}
}

// notify wakes every waiter; call with mu held.
func (s *eventState) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// decodedEvent is a received event decoded (or why it did not decode), waiting to
// be de-duplicated and ordered.
type decodedEvent struct {
	lockerID string
	ev       *protocol.Event
	body     protocol.EventBody
	err      error
}

func decodeEvent(lockerID string, payload []byte) decodedEvent {
	ev, body, err := protocol.DecodeEvent(payload)
	return decodedEvent{lockerID: lockerID, ev: ev, body: body, err: err}
}

// onEvent decodes, de-duplicates and orders one event.
func (s *eventState) onEvent(log *slog.Logger, lockerID string, payload []byte) {
	s.onDecoded(log, []decodedEvent{decodeEvent(lockerID, payload)})
}

// onDecoded de-duplicates and orders decoded events, in their order, under one
// hold of the lock, and wakes the waiters once.
func (s *eventState) onDecoded(log *slog.Logger, evs []decodedEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, d := range evs {
		changed = s.apply(log, d) || changed
	}
	if changed {
		s.notify()
	}
}

// apply de-duplicates and orders one decoded event and reports whether anything
// changed for the waiters; call with mu held.
func (s *eventState) apply(log *slog.Logger, d decodedEvent) bool {
	lockerID, ev, body, err := d.lockerID, d.ev, d.body, d.err
	if err != nil {
		s.stats.Invalid++
		log.Warn("invalid event ignored", "locker", lockerID, "err", err)
		return false
	}
	s.stats.Received++
	key := lockerID + "/" + ev.ID
	if _, dup := s.seen[key]; dup {
		s.stats.Duplicates++
		return false
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.seen, old)
	}
	s.ring[s.next] = key
	s.next = (s.next + 1) % len(s.ring)
	s.seen[key] = struct{}{}

	lo := s.lockers[lockerID]
	if lo == nil {
		base, handled := ev.Seq, uint64(0) // without history, the first event seen sets the baseline
		if s.lastSeq != nil {
			if last := s.lastSeq(lockerID); last > 0 {
				base, handled = last+1, last
			}
		}
		lo = &lockerOrder{id: lockerID, next: base, handled: handled, held: make(map[uint64]Event)}
		s.lockers[lockerID] = lo
	}
	e := Event{LockerID: lockerID, Event: *ev, Body: body}
	if h, ok := body.(*protocol.HealthEvent); ok && h.Audit != nil && ev.Seq > lo.handled {
		s.anchor(log, lockerID, ev.Seq, *h.Audit)
	}
	switch {
	case ev.Seq <= lo.handled:
		// Processed before this client started (Config.LastSeq): the broker
		// redelivers what the last run received but did not acknowledge.
		s.stats.Duplicates++
		return false
	case ev.Seq < lo.next:
		s.stats.OutOfOrder++
		log.Warn("event arrived after its gap was given up on", "locker", lockerID, "seq", ev.Seq)
		s.enqueue(log, e)
	case ev.Seq == lo.next:
		s.enqueue(log, e)
		lo.next++
		s.release(log, lo)
	default:
		lo.held[ev.Seq] = e
		s.stats.Reordered++
		if lo.since.IsZero() {
			s.wait(lo)
		}
		if len(lo.held) > maxHeld {
			s.skipGap(log, lockerID, lo)
		}
	}
	return true
}

// release moves held events that are now in sequence to the queue.
func (s *eventState) release(log *slog.Logger, lo *lockerOrder) {
	for {
		e, ok := lo.held[lo.next]
		if !ok {
			break
		}
		delete(lo.held, lo.next)
		s.enqueue(log, e)
		lo.next++
	}
	lo.since = time.Time{}
	delete(s.waiting, lo.id)
	if len(lo.held) > 0 {
		s.wait(lo) // progress was made: wait again for the next gap
	}
}

// wait starts the reorder window of a locker's gap.
func (s *eventState) wait(lo *lockerOrder) {
	lo.since = s.now()
	s.waiting[lo.id] = lo
}

// skipGap gives up on the missing seqs before the oldest held event.
func (s *eventState) skipGap(log *slog.Logger, lockerID string, lo *lockerOrder) {
	first := uint64(0)
	for seq := range lo.held {
		if first == 0 || seq < first {
			first = seq
		}
	}
	s.stats.Gaps++
	log.Warn("event gap given up on", "locker", lockerID, "missing_from", lo.next, "missing_to", first-1)
	lo.next = first
	s.release(log, lo)
}

// expireGaps skips gaps older than the window and returns the earliest time
// a remaining gap expires (zero if none). Call with mu held.
func (s *eventState) expireGaps(log *slog.Logger) time.Time {
	var earliest time.Time
	for id, lo := range s.waiting { // release may delete and re-add entries: the window just restarted
		if lo.since.IsZero() {
			continue
		}
		if s.now().Sub(lo.since) >= s.window {
			s.skipGap(log, id, lo)
		}
		if !lo.since.IsZero() {
			if d := lo.since.Add(s.window); earliest.IsZero() || d.Before(earliest) {
				earliest = d
			}
		}
	}
	return earliest
}

func (s *eventState) enqueue(log *slog.Logger, e Event) {
	if len(s.queue) >= s.maxLen {
		s.stats.Dropped++
		log.Error("event dropped: buffer full", "locker", e.LockerID, "seq", e.Seq)
		return
	}
	s.queue = append(s.queue, e)
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
	s.presenceAt = time.Now()
	s.notify()
}

// unauthenticated counts an event dropped for its tag.
func (s *eventState) unauthenticated() {
	s.mu.Lock()
	s.stats.Unauthenticated++
	s.mu.Unlock()
}

// close wakes every waiter with ErrClosed.
func (s *eventState) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.notify()
}

// NextEvent returns the next new event (each id once, in seq order per
// locker; see Config.ReorderWindow), waiting until one is ready or ctx ends.
func (c *Client) NextEvent(ctx context.Context) (Event, error) {
	s := &c.events
	for {
		s.mu.Lock()
		deadline := s.expireGaps(c.log)
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
		var expire <-chan time.Time
		var timer *time.Timer
		if !deadline.IsZero() {
			timer = time.NewTimer(deadline.Sub(s.now()))
			expire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-changed:
		case <-expire:
		}
		if timer != nil {
			timer.Stop()
		}
		if err := ctx.Err(); err != nil {
			return Event{}, fmt.Errorf("fleet: waiting for an event: %w", err)
		}
	}
}

// FlushHeldEvents gives up on every gap now and returns, in seq order per locker,
// the events held back waiting for earlier ones, with the events already queued
// before them: for a consumer about to stop, which would otherwise never see
// events it received (each gap is counted in EventStats.Gaps and logged).
func (c *Client) FlushHeldEvents() []Event {
	s := &c.events
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.lockers))
	for id, lo := range s.lockers {
		if len(lo.held) > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		for lo := s.lockers[id]; len(lo.held) > 0; {
			s.skipGap(c.log, id, lo)
		}
	}
	out := s.queue
	s.queue = nil
	return out
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
// example: online with a new boot id) and returns it. It sees only the
// latest presence; a transient state may pass unseen.
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
			return protocol.Presence{}, fmt.Errorf("fleet: waiting for presence of %s: %w", lockerID, ctx.Err())
		case <-changed:
		}
	}
}

// Presences returns the latest presence of every locker seen, once the retained ones
// have arrived: the broker sends them right after the subscription Dial waited for, so
// this waits until no new presence has come for quiet (or ctx ends, which returns what
// came so far with ctx's error). A fleet's view from retained messages alone, without a
// command to any locker.
func (c *Client) Presences(ctx context.Context, quiet time.Duration) (map[string]protocol.Presence, error) {
	s := &c.events
	start := time.Now()
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			defer s.mu.Unlock()
			return maps.Clone(s.presence), fmt.Errorf("fleet: waiting for presences: %w", ctx.Err())
		case <-t.C:
		}
		s.mu.Lock()
		last := s.presenceAt
		if last.Before(start) {
			last = start
		}
		if wait := quiet - time.Since(last); wait > 0 {
			s.mu.Unlock()
			t.Reset(wait) // a presence came meanwhile: quiet again from it
			continue
		}
		defer s.mu.Unlock()
		return maps.Clone(s.presence), nil
	}
}
