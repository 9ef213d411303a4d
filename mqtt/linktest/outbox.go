package linktest

import (
	"fmt"
	"sync"
	"time"

	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Outbox is an in-memory link.Outbox that assigns ids and sequence numbers.
type Outbox struct {
	mu      sync.Mutex
	events  []protocol.Event // pending, in seq order
	nextSeq uint64
	acked   []uint64
	wake    chan struct{}
	prefix  string
}

var _ link.Outbox = (*Outbox)(nil)

// NewOutbox returns an empty Outbox whose event ids start with prefix.
func NewOutbox(prefix string) *Outbox {
	return &Outbox{nextSeq: 1, wake: make(chan struct{}, 1), prefix: prefix}
}

// Add appends an event of type t with body, stamped at, and wakes the link.
func (o *Outbox) Add(t protocol.EventType, at time.Time, body protocol.EventBody) (protocol.Event, error) {
	o.mu.Lock()
	seq := o.nextSeq
	ev, err := protocol.NewEvent(fmt.Sprintf("%s-%d", o.prefix, seq), seq, t, at, body)
	if err != nil {
		o.mu.Unlock()
		return protocol.Event{}, err
	}
	o.nextSeq++
	o.events = append(o.events, ev)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return ev, nil
}

// Pending implements link.Outbox.
func (o *Outbox) Pending(afterSeq uint64, max int) ([]protocol.Event, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []protocol.Event
	for _, ev := range o.events {
		if ev.Seq > afterSeq {
			out = append(out, ev)
			if len(out) == max {
				break
			}
		}
	}
	return out, nil
}

// Ack implements link.Outbox. Acknowledging an unknown seq is not an error:
// a resend may be acknowledged twice.
func (o *Outbox) Ack(seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, ev := range o.events {
		if ev.Seq == seq {
			o.events = append(o.events[:i], o.events[i+1:]...)
			o.acked = append(o.acked, seq)
			return nil
		}
	}
	return nil
}

// Wake implements link.Outbox.
func (o *Outbox) Wake() <-chan struct{} { return o.wake }

// Len returns the number of events not yet acknowledged.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.events)
}

// Acked returns the acknowledged seqs in the order Ack was called.
func (o *Outbox) Acked() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]uint64(nil), o.acked...)
}
