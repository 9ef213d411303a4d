package eventlog

import (
	"encoding/json"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/store"
)

// The cloud link sends only the events its protocol has words for; the others (an
// announcement's count, a reservation, a purge) are facts the cloud already has or
// does not need, and stay in the audit log alone. The receiver finds gaps and restores
// order by sequence number, so the events it gets are numbered densely (store.Wire).

// WireEvent is an outbox event with its number on the wire.
type WireEvent struct {
	model.Event
	Wire uint64
}

// Outbox is the outbox as the cloud link sees it: only the events keep accepts,
// numbered 1, 2, 3, … for ever. One per station, used by one link.
type Outbox struct {
	w    store.Wire
	lock func() (unlock func(), err error)
	wake <-chan struct{}
}

// NewOutbox returns the outbox view of l for a link that sends the events keep
// accepts. keep must be a pure function of the event (the numbering relies on it) and
// cheap. lock takes the station's lock for an acknowledgement, or fails (a closed
// station); wake is signalled after each transition that added events.
func NewOutbox(l Log, keep func(model.Event) bool, lock func() (unlock func(), err error), wake <-chan struct{}) *Outbox {
	return &Outbox{w: l.Wire(func(payload []byte) (bool, error) {
		var e model.Event
		if err := json.Unmarshal(payload, &e); err != nil {
			return false, err
		}
		return keep(e), nil
	}), lock: lock, wake: wake}
}

// Pending returns up to max kept events numbered after after, in order. It only reads.
func (o *Outbox) Pending(after uint64, max int) ([]WireEvent, error) {
	var out []WireEvent
	err := o.w.Pending(after, max, func(wire, seq uint64, payload []byte) error {
		var e model.Event
		if err := Decode(&e)(seq, payload); err != nil {
			return err
		}
		out = append(out, WireEvent{Event: e, Wire: wire})
		return nil
	})
	return out, err
}

// Ack removes the kept events numbered up to wire, and every event the link does not
// send that precedes the last of them, after the broker acknowledged them. Acking an
// event again is not an error.
func (o *Outbox) Ack(wire uint64) error { return o.w.Ack(wire, o.lock) }

// Wake is signalled after each transition that added events.
func (o *Outbox) Wake() <-chan struct{} { return o.wake }

// Len returns the number of kept events not yet acknowledged.
func (o *Outbox) Len() (int, error) { return o.w.Len() }
