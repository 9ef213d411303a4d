package lockboard

import "sync"

// dispatcher delivers changes and health reports in order from its own
// goroutine, so that callbacks may call back into the Bus (Unlock, State)
// without deadlocking the polling loop. The queue is unbounded but fed at
// most one change per lock per poll.
type dispatcher struct {
	onChange func(Change)
	onHealth func(Health)

	mu     sync.Mutex
	queue  []any
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

func newDispatcher(onChange func(Change), onHealth func(Health)) *dispatcher {
	d := &dispatcher{
		onChange: onChange,
		onHealth: onHealth,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go d.run()
	return d
}

func (d *dispatcher) post(ev any) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.queue = append(d.queue, ev)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		batch := d.queue
		d.queue = nil
		d.mu.Unlock()
		for _, ev := range batch {
			d.deliver(ev)
		}
		select {
		case <-d.wake:
		case <-d.stop:
			d.mu.Lock()
			rest := d.queue
			d.queue = nil
			d.mu.Unlock()
			for _, ev := range rest {
				d.deliver(ev)
			}
			return
		}
	}
}

func (d *dispatcher) deliver(ev any) {
	switch e := ev.(type) {
	case Change:
		if d.onChange != nil {
			d.onChange(e)
		}
	case Health:
		if d.onHealth != nil {
			d.onHealth(e)
		}
	}
}

// close delivers what is queued, then stops the goroutine and waits for it.
func (d *dispatcher) close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	d.mu.Unlock()
	close(d.stop)
	<-d.done
}
