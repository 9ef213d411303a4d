// Package queue delivers values to a handler in order from one goroutine
// that the queue owns, so that drivers can report events without blocking
// their I/O loops and handlers can call back into the driver.
package queue

import "sync"

// Queue is an unbounded FIFO with one consumer goroutine. Producers never
// block; the caller bounds the rate (drivers post at most a few values per
// poll or per scan).
type Queue[T any] struct {
	handle func(T)

	mu     sync.Mutex
	items  []T
	closed bool
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

// New starts a queue delivering to handle; a nil handle discards values.
func New[T any](handle func(T)) *Queue[T] {
	q := &Queue[T]{
		handle: handle,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go q.run()
	return q
}

// Post appends v; it is dropped after Close.
func (q *Queue[T]) Post(v T) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, v)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Discard drops values not yet handed to the handler and returns how many.
func (q *Queue[T]) Discard() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.items)
	clear(q.items)
	q.items = nil
	return n
}

func (q *Queue[T]) take() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

func (q *Queue[T]) run() {
	defer close(q.done)
	for {
		for _, v := range q.take() {
			if q.handle != nil {
				q.handle(v)
			}
		}
		select {
		case <-q.wake:
		case <-q.stop:
			for _, v := range q.take() {
				if q.handle != nil {
					q.handle(v)
				}
			}
			return
		}
	}
}

// Close delivers what is queued, stops the goroutine and waits for it. It
// must not be called from the handler.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	<-q.done
}
