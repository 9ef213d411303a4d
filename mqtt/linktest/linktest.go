// Package linktest provides in-memory implementations of the interfaces
// mqtt/link consumes (CommandLog, Outbox, Handler), for tests and the
// simulator. They behave like durable ones within one process: an entry
// begun and never finished stays "in progress" for the next Link that uses
// the same CommandLog, which is how tests simulate a crash mid-command.
package linktest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// CommandLog is an in-memory link.CommandLog.
type CommandLog struct {
	mu      sync.Mutex
	entries map[string]*logEntry
}

type logEntry struct {
	exp   time.Time
	done  bool
	reply protocol.Reply
}

var _ link.CommandLog = (*CommandLog)(nil)

// NewCommandLog returns an empty CommandLog.
func NewCommandLog() *CommandLog { return &CommandLog{entries: make(map[string]*logEntry)} }

// Begin implements link.CommandLog.
func (l *CommandLog) Begin(id string, exp time.Time) (*protocol.Reply, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[id]; ok {
		if !e.done {
			return nil, link.ErrInProgress
		}
		r := e.reply
		return &r, nil
	}
	l.entries[id] = &logEntry{exp: exp}
	return nil, nil
}

// Finish implements link.CommandLog.
func (l *CommandLog) Finish(id string, reply protocol.Reply) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[id]
	if !ok {
		return fmt.Errorf("linktest: finish of unknown command %q", id)
	}
	e.done, e.reply = true, reply
	return nil
}

// Expire forgets entries whose expiry is before now, as a real log may.
func (l *CommandLog) Expire(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, e := range l.entries {
		if e.exp.Before(now) {
			delete(l.entries, id)
		}
	}
}

var _ link.CommandStore = (*CommandLog)(nil)

// Stored implements link.CommandStore.
func (l *CommandLog) Stored(id string) (*protocol.Reply, bool, error) {
	known, finished, reply := l.Lookup(id)
	if !known || !finished {
		return nil, known, nil
	}
	return &reply, true, nil
}

// Lookup returns the stored state of id: known, finished, and the reply.
func (l *CommandLog) Lookup(id string) (known, finished bool, reply protocol.Reply) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[id]
	if !ok {
		return false, false, protocol.Reply{}
	}
	return true, e.done, e.reply
}

// Handler is a link.Handler that records every call. Func decides the
// result (default: done with no body); Calls receives each command if set.
type Handler struct {
	Func  func(ctx context.Context, cmd *protocol.Command) link.Result
	Calls chan *protocol.Command // optional; sends are non-blocking

	mu   sync.Mutex
	seen []*protocol.Command
}

var _ link.Handler = (*Handler)(nil)

// Handle implements link.Handler.
func (h *Handler) Handle(ctx context.Context, cmd *protocol.Command) link.Result {
	h.mu.Lock()
	h.seen = append(h.seen, cmd)
	h.mu.Unlock()
	if h.Calls != nil {
		select {
		case h.Calls <- cmd:
		default:
		}
	}
	if h.Func != nil {
		return h.Func(ctx, cmd)
	}
	return link.Done(nil)
}

// Seen returns the commands handled so far, in order.
func (h *Handler) Seen() []*protocol.Command {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*protocol.Command(nil), h.seen...)
}

// Count returns how many commands were handled.
func (h *Handler) Count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

// Start runs l in a goroutine until stop is called or the test ends, and
// fails the test if Run returns an error or does not return within 15 s of
// being stopped. stop may be called more than once.
func Start(t testing.TB, l *link.Link) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("linktest: link.Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("linktest: link.Run did not return within 15s of its context ending")
		}
	}
	t.Cleanup(stop)
	return stop
}
