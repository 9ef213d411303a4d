package fleet

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

func testEvent(t *testing.T, id string, seq uint64) []byte {
	t.Helper()
	ev, err := protocol.NewEvent(id, seq, protocol.EvThrottled, time.Now(), &protocol.ThrottledEvent{Source: protocol.ThrottleCode, Failures: 3, DelayS: 10})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func drainSeqs(c *Client, d time.Duration) []uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var seqs []uint64
	for {
		ev, err := c.NextEvent(ctx)
		if err != nil {
			return seqs
		}
		seqs = append(seqs, ev.Seq)
	}
}

// TestLastSeqRedeliveryIsDuplicate: after a cloud restart with Config.LastSeq, an
// event the last run processed and the broker redelivers is a duplicate, not an
// event delivered again.
func TestLastSeqRedeliveryIsDuplicate(t *testing.T) {
	cfg := Config{EventBuffer: 10, DedupWindow: 10, ReorderWindow: time.Second, Now: time.Now,
		LastSeq: func(string) uint64 { return 10 }}
	c := &Client{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), events: newEventState(cfg)}
	c.events.onEvent(c.log, "L1", testEvent(t, "ev-10", 10))
	c.events.onEvent(c.log, "L1", testEvent(t, "ev-11", 11))
	if got := drainSeqs(c, 200*time.Millisecond); len(got) != 1 || got[0] != 11 {
		t.Fatalf("delivered %v, want [11]", got)
	}
	if st := c.EventStats(); st.Duplicates != 1 || st.OutOfOrder != 0 {
		t.Fatalf("stats %+v: want the redelivery counted as a duplicate", st)
	}
}

// TestFlushHeldEvents: events held back for a gap are handed over in order when a
// consumer stops, the gap counted, instead of being dropped.
func TestFlushHeldEvents(t *testing.T) {
	cfg := Config{EventBuffer: 10, DedupWindow: 10, ReorderWindow: 30 * time.Second, Now: time.Now}
	c := &Client{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), events: newEventState(cfg)}
	for _, seq := range []uint64{1, 4, 3} { // 2 never arrives
		c.events.onEvent(c.log, "L1", testEvent(t, "ev-"+string(rune('0'+seq)), seq))
	}
	if got := drainSeqs(c, 100*time.Millisecond); len(got) != 1 || got[0] != 1 {
		t.Fatalf("before the flush: %v, want [1]", got)
	}
	var got []uint64
	for _, ev := range c.FlushHeldEvents() {
		got = append(got, ev.Seq)
	}
	if len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Fatalf("flushed %v, want [3 4]", got)
	}
	if st := c.EventStats(); st.Gaps != 1 {
		t.Fatalf("stats %+v: want the gap counted", st)
	}
}
