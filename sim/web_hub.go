package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// sseEvent is one Server-Sent Event: a name and a JSON payload.
type sseEvent struct {
	name string
	data []byte
}

// hub fans events out to the pages listening on one stream. A page that falls 64
// events behind is disconnected (its browser reconnects and gets the replay), so
// that a stuck page never blocks the station.
type hub struct {
	mu     sync.Mutex
	subs   map[chan sseEvent]struct{}
	lasts  map[string]sseEvent
	replay func() []sseEvent // what a new page gets first
}

func newHub() *hub { return &hub{subs: map[chan sseEvent]struct{}{}, lasts: map[string]sseEvent{}} }

// publish sends v to every page; keep remembers it as the stream's latest of its name.
func (h *hub) publish(name string, v any, keep bool) {
	h.publishRaw(jsonEvent(name, v), keep)
}

// jsonEvent encodes v as the payload of an event; the page's own types always encode.
func jsonEvent(name string, v any) sseEvent {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte("null")
	}
	return sseEvent{name: name, data: data}
}

func (h *hub) publishRaw(ev sseEvent, keep bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if keep {
		h.lasts[ev.name] = ev
	}
	for ch := range h.subs {
		select {
		case ch <- ev:
		default: // too slow: drop the page, which reconnects
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// last returns the latest event kept under name, nil if none.
func (h *hub) last(name string) *sseEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev, ok := h.lasts[name]; ok {
		return &ev
	}
	return nil
}

// listeners counts the pages connected.
func (h *hub) listeners() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *hub) serve(rw http.ResponseWriter, r *http.Request) {
	fl, ok := rw.(http.Flusher)
	if !ok {
		http.Error(rw, "sim: streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := make(chan sseEvent, 64)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
		h.mu.Unlock()
	}()
	rw.Header().Set("Content-Type", "text/event-stream")
	rw.WriteHeader(http.StatusOK)
	if h.replay != nil {
		for _, ev := range h.replay() {
			writeEvent(rw, ev)
		}
	}
	fl.Flush()
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			writeEvent(rw, ev)
			fl.Flush()
		case <-beat.C:
			fmt.Fprint(rw, ": still here\n\n")
			fl.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// writeEvent writes one event; its JSON payload is one line.
func writeEvent(rw http.ResponseWriter, ev sseEvent) {
	fmt.Fprintf(rw, "event: %s\ndata: %s\n\n", ev.name, ev.data)
}
