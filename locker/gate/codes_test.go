package gate

import (
	"context"
	"testing"
	"time"
)

// TestRecordWritesAtMostEveryWriteEvery: the first failure is due for writing (so a
// restart holds the gate), later ones only once WriteEvery has passed or the clock went
// back; every failure counts in the hourly tally.
func TestRecordWritesAtMostEveryWriteEvery(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	var r Record
	if r.Holds() {
		t.Fatal("an empty record holds the gate")
	}
	steps := []struct {
		at    time.Duration
		write bool
	}{{0, true}, {time.Minute, false}, {WriteEvery - time.Second, false}, {WriteEvery, true}, {WriteEvery - time.Hour, true}}
	for i, st := range steps {
		var write bool
		r, write = r.Fail(t0.Add(st.at))
		if write != st.write {
			t.Fatalf("failure %d at +%v: write %v, want %v", i, st.at, write, st.write)
		}
	}
	if !r.Holds() {
		t.Fatal("a record with failures does not hold the gate")
	}
	if n := r.Hours.Sum(t0.Add(WriteEvery)); n != int64(len(steps)) {
		t.Fatalf("tally %d, want %d", n, len(steps))
	}
}

func TestInputOf(t *testing.T) {
	if in := InputOf(context.Background()); in != InputOther {
		t.Fatalf("no input named: %q", in)
	}
	if in := InputOf(WithInput(context.Background(), InputKeypad)); in != InputKeypad {
		t.Fatalf("keypad named: %q", in)
	}
}
