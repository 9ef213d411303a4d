package queue_test

import (
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/internal/queue"
)

func TestOrderAndDrainOnClose(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{"none", 0},
		{"one", 1},
		{"many", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			q := queue.New(func(v int) { got = append(got, v) })
			var want []int
			for i := range tt.n {
				q.Post(i)
				want = append(want, i)
			}
			q.Close()
			q.Post(-1) // after Close: dropped
			if !slices.Equal(got, want) {
				t.Errorf("delivered %d values out of order or incomplete", len(got))
			}
		})
	}
}

func TestHandlerMayPostAndDiscard(t *testing.T) {
	done := make(chan int, 1)
	var q *queue.Queue[int]
	q = queue.New(func(v int) {
		if v < 3 {
			q.Post(v + 1) // re-entrant post must not deadlock
			return
		}
		done <- v
	})
	q.Post(0)
	select {
	case v := <-done:
		if v != 3 {
			t.Errorf("got %d, want 3", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("re-entrant post did not arrive")
	}
	block := make(chan struct{})
	started := make(chan struct{})
	q2 := queue.New(func(v int) {
		if v == 1 {
			close(started)
			<-block
		}
	})
	q2.Post(1)
	select {
	case <-started: // the handler holds value 1; later ones stay queued
	case <-time.After(5 * time.Second):
		t.Fatal("handler never started")
	}
	q2.Post(2)
	q2.Post(3)
	if n := q2.Discard(); n != 2 {
		t.Errorf("Discard = %d, want 2", n)
	}
	close(block)
	q2.Close()
	q.Close()
}
