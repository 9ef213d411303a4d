package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

func testEvent(t testing.TB, id string, seq uint64) []byte {
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

// TestGapsWaitedOnAreIndexed: NextEvent looks only at the lockers with a gap being
// waited on (eventState.waiting), so that a fleet of a thousand does not cost a
// thousand map steps per event; a gap filled leaves the index, one given up on is
// skipped from it.
func TestGapsWaitedOnAreIndexed(t *testing.T) {
	cfg := Config{EventBuffer: 100, DedupWindow: 100, ReorderWindow: 50 * time.Millisecond, Now: time.Now}
	c := &Client{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), events: newEventState(cfg)}
	s := &c.events
	for _, id := range []string{"L1", "L2", "L3"} {
		s.onEvent(c.log, id, testEvent(t, id+"-1", 1))
	}
	s.onEvent(c.log, "L2", testEvent(t, "L2-3", 3)) // 2 missing
	if len(s.waiting) != 1 || s.waiting["L2"] == nil {
		t.Fatalf("waiting on %v, want L2 alone", s.waiting)
	}
	s.onEvent(c.log, "L2", testEvent(t, "L2-2", 2)) // filled
	if len(s.waiting) != 0 {
		t.Fatalf("waiting on %v after the gap filled", s.waiting)
	}
	s.onEvent(c.log, "L3", testEvent(t, "L3-3", 3)) // 2 never comes
	got := drainSeqs(c, 300*time.Millisecond)
	if want := []uint64{1, 1, 1, 2, 3, 3}; len(got) != len(want) {
		t.Fatalf("delivered %v, want %v (L3's 3 once its gap is given up on)", got, want)
	}
	if st := c.EventStats(); st.Gaps != 1 || len(s.waiting) != 0 {
		t.Fatalf("stats %+v, waiting on %v: want the gap given up on and none left", st, s.waiting)
	}
}

// BenchmarkEventsFromManyLockers: the fleet side's cost per event (decode,
// de-duplication, ordering, NextEvent) when a thousand lockers send, in order.
func BenchmarkEventsFromManyLockers(b *testing.B) {
	const lockers = 1000
	cfg := Config{EventBuffer: 1000, DedupWindow: 100000, ReorderWindow: time.Minute, Now: time.Now}
	c := &Client{cfg: cfg, log: slog.New(slog.DiscardHandler), events: newEventState(cfg)}
	payloads := make([][]byte, lockers)
	ids := make([]string, lockers)
	for i := range lockers {
		ids[i] = fmt.Sprintf("L-%04d", i)
	}
	ctx := context.Background()
	seq := uint64(0)
	for b.Loop() {
		b.StopTimer()
		seq++
		for i := range lockers {
			payloads[i] = testEvent(b, fmt.Sprintf("%s-%d", ids[i], seq), seq)
		}
		b.StartTimer()
		for i := range lockers {
			c.events.onEvent(c.log, ids[i], payloads[i])
			if _, err := c.NextEvent(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lockers), "ns/event")
}

// TestDecodeAllKeepsArrivalOrder: a batch decoded over several goroutines comes out
// in the order it arrived, each event in its own slot, an invalid one where it was.
func TestDecodeAllKeepsArrivalOrder(t *testing.T) {
	old := decodeWorkers
	decodeWorkers = 4 // the parallel path, whatever this machine's cores
	defer func() { decodeWorkers = old }()
	raw := make([]inboundEvent, decodeBatch)
	for i := range raw {
		id := fmt.Sprintf("L-%d", i%7)
		raw[i] = inboundEvent{id, testEvent(t, fmt.Sprintf("%s-%d", id, i), uint64(i+1))}
	}
	raw[100].payload = []byte(`{"id":"x"}`)
	out := make([]decodedEvent, len(raw))
	decodeAll(raw, out)
	for i, d := range out {
		switch {
		case i == 100:
			if d.err == nil {
				t.Fatalf("event %d: an invalid payload decoded", i)
			}
		case d.err != nil || d.lockerID != raw[i].lockerID || d.ev.Seq != uint64(i+1):
			t.Fatalf("slot %d holds %s seq %v (%v), want %s seq %d", i, d.lockerID, d.ev, d.err, raw[i].lockerID, i+1)
		}
	}
}
