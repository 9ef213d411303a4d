package link

import (
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		name string
		rand float64
		want []time.Duration
	}{
		{name: "upper bound", rand: 0.999999, want: []time.Duration{100, 200, 400, 800, 1000, 1000}},
		{name: "lower bound", rand: 0, want: []time.Duration{50, 100, 200, 400, 500, 500}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackoff(100*time.Millisecond, time.Second)
			b.rand = func() float64 { return tc.rand }
			for i, w := range tc.want {
				got := b.next().Round(time.Millisecond)
				if got != w*time.Millisecond {
					t.Fatalf("step %d: %v, want %v", i, got, w*time.Millisecond)
				}
			}
			b.reset()
			if got := b.next().Round(time.Millisecond); got != tc.want[0]*time.Millisecond {
				t.Fatalf("after reset: %v", got)
			}
		})
	}
}

func TestQueue(t *testing.T) {
	tests := []struct {
		name     string
		maxBytes int
		maxLen   int
		pushes   []string
		accepted []bool
	}{
		{name: "count limit", maxBytes: 100, maxLen: 2, pushes: []string{"a", "b", "c"}, accepted: []bool{true, true, false}},
		{name: "byte limit", maxBytes: 5, maxLen: 100, pushes: []string{"abc", "de", "f"}, accepted: []bool{true, true, false}},
		{name: "oversized alone", maxBytes: 3, maxLen: 100, pushes: []string{"abcd", "abc"}, accepted: []bool{false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue(tc.maxBytes, tc.maxLen)
			var want []string
			for i, p := range tc.pushes {
				if got := q.push([]byte(p)); got != tc.accepted[i] {
					t.Fatalf("push %q = %v", p, got)
				}
				if tc.accepted[i] {
					want = append(want, p)
				}
			}
			if q.len() != len(want) {
				t.Fatalf("len %d, want %d", q.len(), len(want))
			}
			got := q.popN(len(want) + 1)
			if len(got) != len(want) {
				t.Fatalf("popN returned %d, want %d", len(got), len(want))
			}
			for i, w := range want {
				if string(got[i]) != w {
					t.Fatalf("popN[%d] = %q, want %q", i, got[i], w)
				}
			}
			if len(want) > 0 && q.push(make([]byte, tc.maxBytes)) {
				t.Fatal("popped payloads not yet done must still count against the bounds")
			}
			for _, p := range got {
				q.done(p)
			}
			if len(q.popN(1)) != 0 || q.bytes != 0 || q.popped != 0 {
				t.Fatal("queue not empty after popping everything")
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	valid := func() Config {
		return Config{
			Broker: "tcp://127.0.0.1:1", LockerID: "L1", Topics: protocol.MustTopics("lockers"),
			FleetKeys: fleetPubs, EventKey: testEventKey, Boot: "b1", Version: "1.0", Handler: HandlerFunc(nil),
			Commands: nopLog{}, Outbox: nopOutbox{},
		}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{name: "valid"},
		{name: "no broker", mutate: func(c *Config) { c.Broker = "" }, want: "Broker"},
		{name: "websocket broker", mutate: func(c *Config) { c.Broker = "ws://127.0.0.1:1" }, want: "scheme"},
		{name: "broker without host", mutate: func(c *Config) { c.Broker = "mqtts:///x" }, want: "host"},
		{name: "bad locker id", mutate: func(c *Config) { c.LockerID = "a/b" }, want: "LockerID"},
		{name: "no topics", mutate: func(c *Config) { c.Topics = protocol.Topics{} }, want: "Topics"},
		{name: "no keys", mutate: func(c *Config) { c.FleetKeys = nil }, want: "FleetKeys"},
		{name: "short key", mutate: func(c *Config) { c.FleetKeys = []ed25519.PublicKey{make([]byte, 31)} }, want: "Ed25519"},
		{name: "no event key", mutate: func(c *Config) { c.EventKey = nil }, want: "EventKey"},
		{name: "short event key", mutate: func(c *Config) { c.EventKey = make([]byte, 16) }, want: "EventKey"},
		{name: "no boot", mutate: func(c *Config) { c.Boot = "" }, want: "Boot"},
		{name: "no outbox", mutate: func(c *Config) { c.Outbox = nil }, want: "Outbox"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			if tc.mutate != nil {
				tc.mutate(&c)
			}
			l, err := New(c)
			if tc.want == "" {
				if err != nil || l.cfg.Username != "L1" || l.cfg.Timeout != DefaultTimeout {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: got %v, want ErrConfig about %s", err, tc.want)
			}
		})
	}
}

func TestReplyFromHandlerResult(t *testing.T) {
	l, err := New(Config{
		Broker: "tcp://127.0.0.1:1", LockerID: "L1", Topics: protocol.MustTopics("lockers"),
		FleetKeys: fleetPubs, EventKey: testEventKey, Boot: "b1", Version: "1.0", Handler: HandlerFunc(nil),
		Commands: nopLog{}, Outbox: nopOutbox{}, Now: func() time.Time { return testNow },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	base := protocol.Reply{ID: "c1", Ref: protocol.CommandRef([]byte("x")), Typ: protocol.CmdPing}
	tests := []struct {
		name   string
		res    Result
		status protocol.Status
		reason protocol.Reason
	}{
		{name: "done with body", res: Done(protocol.PingResult{Time: testNow, Boot: "b1"}), status: protocol.StatusDone},
		{name: "refused", res: Refused(protocol.ReasonNotFound, "no such parcel"), status: protocol.StatusRefused, reason: protocol.ReasonNotFound},
		{name: "accepted is not final", res: Result{Status: protocol.StatusAccepted}, status: protocol.StatusFailed, reason: protocol.ReasonInternal},
		{name: "unknown reserved for restarts", res: Result{Status: protocol.StatusUnknown, Reason: protocol.ReasonInterrupted}, status: protocol.StatusFailed, reason: protocol.ReasonInternal},
		{name: "failed without reason", res: Result{Status: protocol.StatusFailed}, status: protocol.StatusFailed, reason: protocol.ReasonInternal},
		{name: "made-up reason", res: Result{Status: protocol.StatusRefused, Reason: "nope"}, status: protocol.StatusFailed, reason: protocol.ReasonInternal},
		{name: "body does not encode", res: Done(func() {}), status: protocol.StatusFailed, reason: protocol.ReasonInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := l.replyFrom(base, tc.res)
			if r.Status != tc.status || r.Reason != tc.reason || r.ID != "c1" {
				t.Fatalf("got %+v", r)
			}
			if err := r.Check(); err != nil {
				t.Fatalf("reply breaks the rules: %v", err)
			}
		})
	}
}

type nopLog struct{}

func (nopLog) Begin(string, time.Time) (*protocol.Reply, error) { return nil, nil }
func (nopLog) Finish(string, protocol.Reply) error              { return nil }

type nopOutbox struct{}

func (nopOutbox) Pending(uint64, int) ([]protocol.Event, error) { return nil, nil }
func (nopOutbox) Ack(uint64) error                              { return nil }
func (nopOutbox) Wake() <-chan struct{}                         { return nil }

// TestQueueClose: closing hands back what is still queued, releases its room and
// refuses every later push, so a stopping link can answer each command once.
func TestQueueClose(t *testing.T) {
	q := newQueue(1<<10, 10)
	for _, p := range []string{"a", "bb", "ccc"} {
		if !q.push([]byte(p)) {
			t.Fatalf("push %q", p)
		}
	}
	popped := q.popN(1)
	left := q.close()
	if len(popped) != 1 || len(left) != 2 || string(left[0]) != "bb" || string(left[1]) != "ccc" {
		t.Fatalf("popped %q, left %q", popped, left)
	}
	if q.push([]byte("d")) || !q.isClosed() || q.len() != 0 {
		t.Fatal("a closed queue took a push")
	}
	q.done(popped[0])
	if q.bytes != 0 || q.popped != 0 {
		t.Fatalf("room not released: %d bytes, %d popped", q.bytes, q.popped)
	}
}
