package gate

import "time"

// Window counts failures in a rolling span and says when they pass a limit: the
// guessing alarm (ADR 0046), raised at most once a span. It is not safe for
// concurrent use; its owner serialises it.
type Window struct {
	times     []time.Time // failures within the span, oldest first; at most limit+1
	lastAlarm time.Time
}

// Fail records a failure at now. It returns the failures within span before now
// (counting this one, at most limit+1) and whether the alarm is due: more than limit
// of them, and no alarm within the last span.
func (w *Window) Fail(now time.Time, span time.Duration, limit int) (count int, alarm bool) {
	keep := w.times[:0]
	for _, t := range w.times {
		if now.Sub(t) < span {
			keep = append(keep, t)
		}
	}
	w.times = append(keep, now)
	if len(w.times) > limit+1 {
		w.times = w.times[len(w.times)-(limit+1):]
	}
	count = len(w.times)
	if count > limit && (w.lastAlarm.IsZero() || now.Sub(w.lastAlarm) >= span || now.Before(w.lastAlarm)) {
		w.lastAlarm = now
		return count, true
	}
	return count, false
}

// Reset forgets the failures and the last alarm (an operator cleared them).
func (w *Window) Reset() { *w = Window{} }

// Tally counts failures per hour over the last 24 hours, for status reports. Its
// fields are exported so that its owner can store it.
type Tally struct {
	Hour   int64     `json:"hour"`   // Unix hour of Counts[Hour%24]'s bucket, the newest
	Counts [24]int64 `json:"counts"` // failures per hour, indexed by Unix hour mod 24
}

// Add counts one failure at now.
func (t *Tally) Add(now time.Time) {
	t.advance(now)
	t.Counts[t.Hour%24]++
}

// Sum returns the failures of the 24 hours up to now.
func (t *Tally) Sum(now time.Time) int64 {
	c := *t
	c.advance(now)
	var n int64
	for _, v := range c.Counts {
		n += v
	}
	return n
}

// advance moves the newest bucket to now's hour, emptying the hours skipped. A clock
// stepped back leaves the buckets as they are.
func (t *Tally) advance(now time.Time) {
	h := now.Unix() / 3600
	if h <= t.Hour {
		return
	}
	if h-t.Hour >= 24 {
		t.Counts = [24]int64{}
	} else {
		for x := t.Hour + 1; x <= h; x++ {
			t.Counts[x%24] = 0
		}
	}
	t.Hour = h
}

// Check reports what Fail at now would return, changing nothing.
func (w *Window) Check(now time.Time, span time.Duration, limit int) (count int, alarm bool) {
	c := Window{times: append([]time.Time(nil), w.times...), lastAlarm: w.lastAlarm}
	return c.Fail(now, span, limit)
}
