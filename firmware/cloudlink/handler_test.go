package cloudlink

import (
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		steps []time.Duration // offsets of take calls
		want  []bool
	}{
		{"under the limit", []time.Duration{0, time.Minute}, []bool{true, true}},
		{"over the limit", []time.Duration{0, time.Second, 2 * time.Second}, []bool{true, true, false}},
		{"window slides", []time.Duration{0, time.Second, time.Hour, time.Hour + time.Second}, []bool{true, true, true, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRateLimiter(2, time.Hour)
			for i, d := range tc.steps {
				if got := r.take(t0.Add(d)); got != tc.want[i] {
					t.Fatalf("take %d at +%v = %v", i, d, got)
				}
			}
		})
	}
	r := newRateLimiter(1, time.Hour)
	r.take(t0)
	r.give()
	if !r.take(t0) {
		t.Fatal("a given-back take still counts")
	}
}
