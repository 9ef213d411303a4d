package link

import "sync"

// maxBusy bounds the "busy" refusals waiting to be sent; beyond it
// commands are dropped with a log line (the cloud's re-send gets through
// once the queue drains).
const maxBusy = 1024

// busyPeekLimit bounds the payloads whose id is extracted for a busy
// refusal inside paho's handler, to keep that handler cheap.
const busyPeekLimit = 16 << 10

// busyRefusal is what is kept of a command refused for lack of room.
type busyRefusal struct {
	id, ref  string
	stopping bool // refused because the link is stopping, not for lack of room
}

// queue passes commands from paho's message handler, which must never
// block, to the worker. It is bounded in bytes and count; the caller turns
// overflow into "busy" refusals rather than backpressure on the broker
// connection.
type queue struct {
	mu       sync.Mutex
	items    [][]byte
	bytes    int // of items and of popped payloads not yet done
	popped   int // payloads popped and not yet done: they still count against the bounds
	maxBytes int
	maxLen   int
	notify   chan struct{} // capacity 1: "something was pushed"
	closed   bool          // the link is stopping: push refuses
}

func newQueue(maxBytes, maxLen int) *queue {
	return &queue{maxBytes: maxBytes, maxLen: maxLen, notify: make(chan struct{}, 1)}
}

// push never blocks. It reports false when the queue is full or closed.
func (q *queue) push(payload []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || len(q.items)+q.popped >= q.maxLen || q.bytes+len(payload) > q.maxBytes {
		return false
	}
	q.items = append(q.items, payload)
	q.bytes += len(payload)
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// popN returns up to n of the oldest payloads (none when the queue is empty).
func (q *queue) popN(n int) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.items))
	if n == 0 {
		return nil
	}
	out := make([][]byte, n)
	copy(out, q.items)
	for i := range n {
		q.items[i] = nil
	}
	q.popped += n
	q.items = q.items[n:]
	if len(q.items) == 0 {
		q.items = nil // let the backing array go after a burst
	}
	return out
}

// done releases the room of a payload that popN returned, once it was handled.
func (q *queue) done(payload []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.popped--
	q.bytes -= len(payload)
}

// len returns the number of queued commands.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// close refuses further pushes and returns what is still queued (and forgets it).
func (q *queue) close() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	left := q.items
	q.items = nil
	for _, p := range left {
		q.bytes -= len(p)
	}
	return left
}

// isClosed reports whether close was called.
func (q *queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}
