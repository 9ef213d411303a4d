package link

import (
	"sync"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// maxBusy bounds the refusals remembered while the queue is full; beyond it
// commands are dropped with a log line (the cloud's retry will get through).
const maxBusy = 1024

// item is one received command. A busy item carries no payload, only the
// ref needed to refuse it.
type item struct {
	payload []byte
	ref     string
	busy    bool
}

// queue passes commands from paho's message handler, which must never
// block, to the worker. It is bounded in bytes and count; overflow turns
// into "busy" refusals rather than backpressure on the broker connection.
type queue struct {
	mu       sync.Mutex
	items    []item
	bytes    int
	busy     int
	maxBytes int
	maxLen   int
	notify   chan struct{} // capacity 1: "something was pushed"
}

func newQueue(maxBytes, maxLen int) *queue {
	return &queue{maxBytes: maxBytes, maxLen: maxLen, notify: make(chan struct{}, 1)}
}

// push never blocks. It reports false when the command had to be dropped
// without even a refusal.
func (q *queue) push(payload []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case len(q.items)-q.busy < q.maxLen && q.bytes+len(payload) <= q.maxBytes:
		q.items = append(q.items, item{payload: payload})
		q.bytes += len(payload)
	case q.busy < maxBusy:
		q.items = append(q.items, item{ref: protocol.CommandRef(payload), busy: true})
		q.busy++
	default:
		return false
	}
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// pop returns the oldest item, or false when the queue is empty.
func (q *queue) pop() (item, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return item{}, false
	}
	it := q.items[0]
	q.items[0] = item{}
	q.items = q.items[1:]
	if it.busy {
		q.busy--
	} else {
		q.bytes -= len(it.payload)
	}
	if len(q.items) == 0 {
		q.items = nil // let the backing array go after a burst
	}
	return it, true
}

// len returns the number of queued items.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
