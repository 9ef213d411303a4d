package fleet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func eventJSON(id string, seq int) []byte {
	return []byte(`{"id":"` + id + `","seq":` + strconv.Itoa(seq) + `,"type":"door_closed","time":"2025-01-01T00:00:00Z","body":{"compartment":1}}`)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func testClient(buffer, window int, clock *fakeClock, lastSeq func(string) uint64) *Client {
	return &Client{log: discard, events: newEventState(Config{
		EventBuffer: buffer, DedupWindow: window, ReorderWindow: time.Minute, Now: clock.Now, LastSeq: lastSeq,
	})}
}

func drain(t *testing.T, c *Client, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []string
	for range n {
		ev, err := c.NextEvent(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", out, err)
		}
		out = append(out, ev.LockerID+"/"+ev.ID)
	}
	return out
}

func TestEventDeliveryOrder(t *testing.T) {
	type arrival struct {
		locker, id string
		seq        int
	}
	tests := []struct {
		name     string
		window   int
		lastSeq  func(string) uint64
		arrivals []arrival
		want     []string
		stats    EventStats
	}{
		{
			name: "in order", window: 10,
			arrivals: []arrival{{"L1", "a", 1}, {"L1", "b", 2}, {"L2", "a", 7}},
			want:     []string{"L1/a", "L1/b", "L2/a"},
			stats:    EventStats{Received: 3},
		},
		{
			name: "duplicates dropped", window: 10,
			arrivals: []arrival{{"L1", "a", 1}, {"L1", "a", 1}, {"L1", "b", 2}, {"L1", "a", 1}},
			want:     []string{"L1/a", "L1/b"},
			stats:    EventStats{Received: 4, Duplicates: 2},
		},
		{
			name: "held until the gap fills", window: 10,
			arrivals: []arrival{{"L1", "e1", 1}, {"L1", "e3", 3}, {"L1", "e4", 4}, {"L1", "e2", 2}, {"L1", "e5", 5}},
			want:     []string{"L1/e1", "L1/e2", "L1/e3", "L1/e4", "L1/e5"},
			stats:    EventStats{Received: 5, Reordered: 2},
		},
		{
			name: "baseline from the cloud's store", window: 10, lastSeq: func(string) uint64 { return 40 },
			arrivals: []arrival{{"L1", "e42", 42}, {"L1", "e41", 41}},
			want:     []string{"L1/e41", "L1/e42"},
			stats:    EventStats{Received: 2, Reordered: 1},
		},
		{
			name: "forgotten after the window", window: 2,
			arrivals: []arrival{{"L1", "a", 1}, {"L1", "b", 2}, {"L1", "c", 3}, {"L1", "a", 4}},
			want:     []string{"L1/a", "L1/b", "L1/c", "L1/a"},
			stats:    EventStats{Received: 4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testClient(100, tc.window, &fakeClock{now: time.Unix(1e9, 0)}, tc.lastSeq)
			for _, a := range tc.arrivals {
				c.events.onEvent(discard, a.locker, eventJSON(a.id, a.seq))
			}
			got := drain(t, c, len(tc.want))
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
			if st := c.EventStats(); st != tc.stats {
				t.Fatalf("stats %+v, want %+v", st, tc.stats)
			}
		})
	}
}

// TestGapGivenUp: a missing seq is waited for ReorderWindow, then skipped;
// if it turns up later it is still delivered, flagged as out of order.
func TestGapGivenUp(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	c := testClient(100, 10, clock, nil)
	c.events.onEvent(discard, "L1", eventJSON("e1", 1))
	c.events.onEvent(discard, "L1", eventJSON("e3", 3))
	if got := drain(t, c, 1); got[0] != "L1/e1" {
		t.Fatalf("got %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.NextEvent(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("e3 released before the window: %v", err)
	}
	clock.Advance(time.Minute)
	if got := drain(t, c, 1); got[0] != "L1/e3" {
		t.Fatalf("got %v", got)
	}
	c.events.onEvent(discard, "L1", eventJSON("e2", 2))
	if got := drain(t, c, 1); got[0] != "L1/e2" {
		t.Fatalf("got %v", got)
	}
	if st := c.EventStats(); st.Gaps != 1 || st.OutOfOrder != 1 || st.Reordered != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEventBufferAndClose(t *testing.T) {
	c := testClient(2, 100, &fakeClock{now: time.Unix(1e9, 0)}, nil)
	c.events.onEvent(discard, "L1", []byte(`{"id":"x"}`))
	for i := 1; i <= 3; i++ {
		c.events.onEvent(discard, "L1", eventJSON("e"+strconv.Itoa(i), i))
	}
	if st := c.EventStats(); st.Dropped != 1 || st.Invalid != 1 {
		t.Fatalf("stats %+v", st)
	}
	drain(t, c, 2)
	c.events.close()
	if _, err := c.NextEvent(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}
