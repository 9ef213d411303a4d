package keypad_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/drivers/keypad/keypadtest"
)

// scanRecord is what a scripted key did in each scan of the matrix, and what the
// matrix reported.
type scanRecord struct {
	scans   []time.Duration // each scan's time, since the first scan
	downs   []bool          // whether the key was down in that scan
	keys    []keypad.Key    // reported, in order
	keyAt   []time.Duration // when each key was reported, since the first scan
	presses uint64          // the matrix's Presses after the script
}

// String gives the scans as runs of the key down or up: "down 0s..15ms (4 scans), ...".
func (r scanRecord) String() string {
	var b strings.Builder
	for i := 0; i < len(r.scans); {
		j := i
		for j+1 < len(r.scans) && r.downs[j+1] == r.downs[i] {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		state := "up"
		if r.downs[i] {
			state = "down"
		}
		fmt.Fprintf(&b, "%s %v..%v (%d scans)", state, r.scans[i], r.scans[j], j-i+1)
		i = j + 1
	}
	return b.String()
}

// downSpan is how long the scans saw the key down in one run: from the first
// scan that saw it down to the last one before a scan saw it up.
func (r scanRecord) downSpan() time.Duration {
	var longest time.Duration
	from := -1
	for i, d := range r.downs {
		switch {
		case d && from < 0:
			from = i
		case !d && from >= 0:
			longest = max(longest, r.scans[i-1]-r.scans[from])
			from = -1
		}
	}
	return longest
}

// debounced applies the rule the driver documents to the scans' record: a key's
// state counts once the scans have seen it unchanged for the debounce, timed from
// the scan that first saw the change. It returns when presses are due.
func debounced(r scanRecord, debounce time.Duration) []time.Duration {
	var stable, pending bool
	var since time.Duration
	var at []time.Duration
	for i, s := range r.scans {
		if r.downs[i] != pending {
			pending, since = r.downs[i], s
		}
		if pending != stable && s-since >= debounce {
			if pending {
				at = append(at, s)
			}
			stable = pending
		}
	}
	return at
}

// scripted opens a matrix on a fake keypad in the calling synctest bubble and
// shows key k to its scans as down(n, since) says for the n-th scan (from 0),
// since the first scan: the fake's OnScan sets the key before the scan reads a
// line, so each scan sees exactly the state the script gives it. In the bubble the
// clock stands still while the scanner works, so the scans' times are the ones the
// driver's debounce measures, whatever the machine's load. After ten seconds (on
// the bubble's clock: the script has played out and the matrix gone idle) it
// closes the matrix and returns the record.
func scripted(t *testing.T, cfg keypad.MatrixConfig, fake *keypadtest.Matrix, k keypad.Key, down func(n int, since time.Duration) bool) scanRecord {
	t.Helper()
	var mu sync.Mutex
	var first time.Time
	var rec scanRecord
	cfg.Logger = quiet
	cfg.OnKey = func(k keypad.Key) {
		mu.Lock()
		defer mu.Unlock()
		rec.keys = append(rec.keys, k)
		rec.keyAt = append(rec.keyAt, time.Since(first))
	}
	fake.OnScan(func() {
		now := time.Now()
		mu.Lock()
		if first.IsZero() {
			first = now
		}
		since := now.Sub(first)
		d := down(len(rec.scans), since)
		rec.scans, rec.downs = append(rec.scans, since), append(rec.downs, d)
		mu.Unlock()
		if err := fake.Hold(k, d); err != nil {
			t.Error(err)
		}
	})
	m, err := keypad.OpenMatrix(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.Hold(k, true); err != nil { // wakes the scanner; the script decides from its first scan on
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	rec.presses = m.Presses()
	if n := len(rec.downs); n == 0 || rec.downs[n-1] {
		t.Fatalf("the script left the key down (%d scans)", n)
	}
	return rec
}

// TestMatrixDebounce shows a key to chosen scans of the matrix: a key seen for less
// than the debounce is never reported, however many scans saw it, and one seen for
// longer is reported exactly once, by the first scan at or after the debounce
// since the last change; contact bounce seen by scans gives one key. It runs in a
// synctest bubble, so the scans' timing is exact under any load: a debounce
// removed, or shortened by one scan interval, fails it.
func TestMatrixDebounce(t *testing.T) {
	configs := []struct {
		name           string
		scan, debounce time.Duration // set in MatrixConfig, unless defaults
		defaults       bool          // leave ScanInterval and Debounce zero: the driver's defaults (5 ms, 20 ms)
	}{
		{name: "defaults", scan: 5 * time.Millisecond, debounce: 20 * time.Millisecond, defaults: true},
		{name: "1ms scans of 10ms", scan: time.Millisecond, debounce: 10 * time.Millisecond},
	}
	// A bouncing press: down and up for a scan or two at a time, as contacts bounce,
	// then down for 3 debounces, then up again with bounces.
	bounces := []bool{true, false, true, true, false, false, true, false, true, false}
	cases := []struct {
		name string
		keys int // reported
		// down: the key in scan n (from 0), since the first scan; scan is the
		// scan interval and deb the debounce.
		down func(n int, since, scan, deb time.Duration) bool
		// minSpan, if set, is the longest run of scans seeing the key down that
		// the script must have shown (the case means nothing otherwise).
		minSpan func(scan, deb time.Duration) time.Duration
	}{
		{name: "one scan", keys: 0,
			down: func(n int, _, _, _ time.Duration) bool { return n == 0 }},
		{name: "just under the debounce", keys: 0,
			down:    func(_ int, since, _, deb time.Duration) bool { return since < deb },
			minSpan: func(scan, deb time.Duration) time.Duration { return deb - scan }},
		{name: "held past the debounce", keys: 1,
			down:    func(_ int, since, _, deb time.Duration) bool { return since < 3*deb },
			minSpan: func(_, deb time.Duration) time.Duration { return 2 * deb }},
		{name: "held exactly the debounce", keys: 1,
			down:    func(_ int, since, _, deb time.Duration) bool { return since <= deb },
			minSpan: func(_, deb time.Duration) time.Duration { return deb }},
		{name: "bouncing contacts", keys: 1,
			down: func(n int, _, _, _ time.Duration) bool {
				const held = 60 // scans: 3 debounces at 1 ms, 15 at 5 ms
				switch {
				case n < len(bounces):
					return bounces[n]
				case n < len(bounces)+held:
					return true
				case n < 2*len(bounces)+held:
					return bounces[n-len(bounces)-held]
				}
				return false
			},
			minSpan: func(_, deb time.Duration) time.Duration { return 2 * deb }},
	}
	for _, c := range configs {
		for _, tc := range cases {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					fake := keypadtest.NewMatrix(nil)
					cfg := fake.Config()
					if !c.defaults {
						cfg.ScanInterval, cfg.Debounce = c.scan, c.debounce
					}
					rec := scripted(t, cfg, fake, '5', func(n int, since time.Duration) bool {
						return tc.down(n, since, c.scan, c.debounce)
					})
					if tc.minSpan != nil {
						if span, want := rec.downSpan(), tc.minSpan(c.scan, c.debounce); span < want {
							t.Fatalf("the scans saw the key down for %v, the case needs %v (scans: %v)", span, want, rec)
						}
					}
					want := debounced(rec, c.debounce)
					if len(want) != tc.keys {
						t.Fatalf("the debounce rule gives %d presses, the case %d (scans: %v)", len(want), tc.keys, rec)
					}
					if len(rec.keys) != tc.keys || rec.presses != uint64(tc.keys) {
						t.Fatalf("keys reported: %d (%q at %v), Presses %d; want %d at %v (debounce %v; scans: %v)",
							len(rec.keys), rec.keys, rec.keyAt, rec.presses, tc.keys, want, c.debounce, rec)
					}
					for i, k := range rec.keys {
						if k != '5' || rec.keyAt[i] != want[i] {
							t.Errorf("key %q reported at %v, want '5' at %v (debounce %v; scans: %v)",
								k, rec.keyAt[i], want[i], c.debounce, rec)
						}
					}
				})
			})
		}
	}
}
