package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/gpiodoor/gpiodoortest"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/internal/testenv"
)

// webRig is a station with a front panel, running in-process, and its page served.
type webRig struct {
	t   *testing.T
	st  *Station
	web *Web
	url string
	ctx context.Context
}

// startWeb runs a station of one CU16 board (12 doors) and two GPIO doors with a
// keypad and a scanner, without a cloud link (the page provisions through the control
// socket), and serves its page.
func startWeb(t *testing.T) *webRig {
	t.Helper()
	cloud, err := NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewStation(StationOptions{LockerID: "SIM-W", Dir: t.TempDir(), Cloud: cloud, Boards: 1,
		Policy: config.Policy{DoorOpenTimeout: 1500 * time.Millisecond}, // a jammed door is found sooner
		Person: lockboardtest.OpenThenClose(100*time.Millisecond, 300*time.Millisecond),
		Hardware: HardwareOptions{GPIODoors: 2, Scanner: true, Keypad: true,
			GPIOPerson: gpiodoortest.OpenThenClose(100*time.Millisecond, 300*time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	web, err := NewWeb("", WebOptions{Station: st, Cloud: cloud, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	ready := make(chan struct{})
	ran, served := make(chan error, 1), make(chan error, 1)
	go func() { ran <- st.Run(ctx, log, web.Observe, func() { close(ready) }) }()
	go func() { served <- web.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		for _, ch := range []chan error{ran, served} {
			if err := <-ch; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("stopping: %v", err)
			}
		}
	})
	select {
	case <-ready:
	case err := <-ran:
		t.Fatalf("lockerd did not start: %v", err)
	}
	// The scanner driver opens its port after lockerd is ready, and flushes what came
	// before, as a real port does: wait until it is open.
	cl := st.Client()
	defer cl.Close()
	testenv.Eventually(t, 10*time.Second, "the scanner's port is open", func() bool {
		ds, err := cl.Drivers(ctx)
		for _, d := range ds {
			if d.Name == ScannerDriver {
				return err == nil && d.OK
			}
		}
		return false
	})
	return &webRig{t: t, st: st, web: web, url: strings.TrimSuffix(web.URL(), "/"), ctx: ctx}
}

// post sends a JSON action as the page does and returns the status code.
func (r *webRig) post(path string, body any) int {
	r.t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		r.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(r.ctx, http.MethodPost, r.url+path, bytes.NewReader(data))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", r.url)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		r.t.Logf("POST %s %s: %d %s", path, data, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return resp.StatusCode
}

// mustPost is post that fails the test unless the action was done.
func (r *webRig) mustPost(path string, body any) {
	r.t.Helper()
	if code := r.post(path, body); code != http.StatusNoContent {
		r.t.Fatalf("POST %s: status %d", path, code)
	}
}

// keys presses each key on the page's keypad.
func (r *webRig) keys(keys string) {
	r.t.Helper()
	for _, k := range keys {
		r.mustPost("/api/key", map[string]string{"key": string(k)})
	}
}

// get fetches a page resource as the browser does.
func (r *webRig) get(path string) []byte {
	r.t.Helper()
	resp, err := http.Get(r.url + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return data
}

// gotEvent is one event read from a stream.
type gotEvent struct {
	name string
	data json.RawMessage
}

// stream is a page's connection to one event stream: the events in order, and every
// byte as it came (for the canary scan).
type stream struct {
	t      *testing.T
	events chan gotEvent
	mu     sync.Mutex
	raw    bytes.Buffer
	grid   json.RawMessage // the latest grid event consumed
}

func (r *webRig) stream(path string) *stream {
	r.t.Helper()
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url+path, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		r.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, ct)
	}
	s := &stream{t: r.t, events: make(chan gotEvent, 4096)}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.raw.WriteString(line + "\n")
			s.mu.Unlock()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				s.events <- gotEvent{name: name, data: json.RawMessage(line[len("data: "):])}
			}
		}
	}()
	return s
}

// bytes returns everything the stream carried so far.
func (s *stream) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.raw.Bytes())
}

// wait returns the first event named name, from now on in the stream's order, that
// match accepts (decoded into a value of type T), or fails the test after 15 s. A grid
// is a state: the latest one read already counts.
func wait[T any](s *stream, name string, match func(T) bool) T {
	s.t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	var skipped []string
	if name == "grid" && s.grid != nil { // a state, not a happening: the current one counts
		var v T
		if json.Unmarshal(s.grid, &v) == nil && match(v) {
			return v
		}
	}
	for {
		select {
		case ev := <-s.events:
			if ev.name == "grid" {
				s.grid = ev.data
			}
			if ev.name != name {
				continue
			}
			skipped = append(skipped, string(ev.data))
			var v T
			if err := json.Unmarshal(ev.data, &v); err != nil {
				s.t.Fatalf("event %s: %v: %s", name, err, ev.data)
			}
			if match(v) {
				return v
			}
		case <-deadline.C:
			var zero T
			s.t.Fatalf("timed out waiting for a %s event like %T; saw %d others, the last %q", name, zero, len(skipped), skipped)
			return zero
		}
	}
}

func prompt(p string) func(screenView) bool { return func(s screenView) bool { return s.Prompt == p } }

// cell returns a matcher for grids where compartment id is in state.
func cell(id int, state string) func(gridView) bool {
	return func(g gridView) bool {
		for _, c := range g.Cells {
			if c.ID == id {
				return c.State == state
			}
		}
		return false
	}
}
