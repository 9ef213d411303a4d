package cloud

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"
)

func TestEventDeduplicationAndOrder(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := &Client{events: newEventState(10, 3)}
	ev := func(id string, seq int) []byte {
		return []byte(`{"id":"` + id + `","seq":` + strconv.Itoa(seq) + `,"type":"door_closed","time":"2025-01-01T00:00:00Z","body":{"compartment":1}}`)
	}
	steps := []struct {
		name    string
		locker  string
		payload []byte
	}{
		{name: "first", locker: "L1", payload: ev("a", 1)},
		{name: "second", locker: "L1", payload: ev("b", 2)},
		{name: "duplicate of first", locker: "L1", payload: ev("a", 1)},
		{name: "same id on another locker", locker: "L2", payload: ev("a", 1)},
		{name: "invalid", locker: "L1", payload: []byte(`{"id":"x"}`)},
		{name: "older seq, new id", locker: "L1", payload: ev("c", 1)},
		{name: "beyond the window, a is forgotten", locker: "L1", payload: ev("d", 3)},
		{name: "a again after eviction", locker: "L1", payload: ev("a", 4)},
	}
	for _, s := range steps {
		c.events.onEvent(log, s.locker, s.payload)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	want := []string{"L1/a", "L1/b", "L2/a", "L1/c", "L1/d", "L1/a"}
	for i, w := range want {
		got, err := c.NextEvent(ctx)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got.LockerID+"/"+got.ID != w {
			t.Fatalf("event %d: got %s/%s, want %s", i, got.LockerID, got.ID, w)
		}
	}
	st := c.EventStats()
	if st.Received != 7 || st.Duplicates != 1 || st.Invalid != 1 || st.OutOfOrder != 1 {
		t.Fatalf("stats %+v", st)
	}
	c.events.close()
	if _, err := c.NextEvent(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestEventBufferFull(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := &Client{events: newEventState(2, 100)}
	for i := 1; i <= 3; i++ {
		c.events.onEvent(log, "L1", []byte(`{"id":"e`+strconv.Itoa(i)+`","seq":`+strconv.Itoa(i)+`,"type":"door_closed","time":"2025-01-01T00:00:00Z","body":{"compartment":1}}`))
	}
	if st := c.EventStats(); st.Dropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}
