package locker_test

// The arithmetic of ADR 0046 (keypad guessing budget), executable: the figures the ADR
// quotes are asserted here, so the ADR and the chosen defaults cannot drift apart. Pure
// arithmetic, no station: the design is read from locker.DefaultPolicy() and the valid
// range from the bounds Policy.Validate applies (TestKeypadBudgetRangeIsValidate checks
// that they are Validate's). The keypad simulation (keypad_sim_test.go) runs the
// station itself under the default policy.

import (
	"math"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker"
)

// The targets and scenario.
const (
	month      = 30 * 24 * time.Hour // the attack lasts 30 days
	waiting    = 200                 // parcels waiting throughout
	targetP    = 1e-3                // chance that any door opens, at most
	targetWait = 2 * time.Minute     // a keypad-only recipient's wait during the attack, at most
)

// The honest keypad-only recipient, deliberately slow: 10 s to read the prompts and find
// the code on paper, 1.5 s a key, and one typo (two evaluated attempts).
const (
	readTime = 10 * time.Second
	perKey   = 1500 * time.Millisecond
	attempts = 2
	phone    = 4 // the phone's last four digits, folded into the verifier by the cloud
)

// keypadDesign is one choice of ADR 0046's keypad parameters.
type keypadDesign struct {
	codeDigits int           // L: the policy's minimum code length
	delay      time.Duration // D: the least time between a failed attempt and the next evaluation
}

// ADR 0046's default policy, and the range Policy.Validate accepts.
var (
	adr0046Default       = keypadDesign{codeDigits: locker.DefaultPolicy().CodeEntry.MinLength, delay: locker.DefaultPolicy().CodeEntry.Delay}
	minDigits, maxDigits = locker.MinCodeLength, locker.MaxCodeLength
	minDelay, maxDelay   = locker.MinCodeDelay, locker.MaxCodeDelay
	qrBits               = 128.0
	qrScansPerSecond     = 10.0 // far above what a serial scanner decodes
	honestPickupsPerDay  = 200  // today's reset scenario: one pickup per parcel a day
	legacyDigits         = 8
)

// anyDoor is the chance that at least one of G guesses, each a different secret from
// a space of n, matches one of the waiting parcels: 1-(1-200/n)^G, computed without
// cancellation.
func anyDoor(g, n float64) float64 { return -math.Expm1(g * math.Log1p(-waiting/n)) }

// gatedGuesses is the most failed attempts a gate of one evaluation per delay after a
// failure lets through in the month, whatever the attacker's speed or number of inputs.
func gatedGuesses(d time.Duration) float64 { return math.Floor(float64(month)/float64(d)) + 1 }

// space is the number of secrets a guess must hit: L code digits and the phone's four.
func (k keypadDesign) space() float64 { return math.Pow(10, float64(k.codeDigits+phone)) }

// keys is what the recipient types: the code, '#', the phone's last four, '#'.
func (k keypadDesign) keys() int { return k.codeDigits + 1 + phone + 1 }

// honestWait bounds a keypad-only recipient's time from arriving to the door opening
// while an attacker keeps one attempt queued on another input: each of their attempts
// is typed, then waits at most for the attacker's attempt ahead of it (D) and its own
// slot (D).
func (k keypadDesign) honestWait() time.Duration {
	per := readTime + time.Duration(k.keys())*perKey + 2*k.delay
	return attempts * per
}

// lockoutGuesses counts the failures today's throttle (throttle.fail: MaxFailures free,
// then BaseDelay doubling to MaxDelay per failure) lets a zero-entry-time attacker make
// in span when no success ever resets it, and the longest lock-out it imposes.
func lockoutGuesses(p locker.ThrottlePolicy, span time.Duration) (n int, longest time.Duration) {
	var t time.Duration
	for failures := 1; t <= span; failures++ {
		n++
		if over := failures - p.MaxFailures; over >= 0 {
			d := p.BaseDelay
			for i := 0; i < over && d < p.MaxDelay; i++ {
				d *= 2
			}
			d = min(d, p.MaxDelay)
			longest = max(longest, d)
			t += d
		}
	}
	return n, longest
}

func near(t *testing.T, what string, got, want, rel float64) {
	t.Helper()
	if math.Abs(got-want) > rel*math.Abs(want) {
		t.Errorf("%s = %.4g, the ADR says %.4g", what, got, want)
	}
}

// TestKeypadBudgetToday: the figures of the ADR's context, from today's DefaultPolicy.
func TestKeypadBudgetToday(t *testing.T) {
	p := locker.DefaultPolicy().CodeThrottle
	g, longest := lockoutGuesses(p, month)
	if g != 1449 || longest != 30*time.Minute {
		t.Errorf("today, no resets: %d guesses in 30 days, longest lock-out %v; the ADR says 1449 and 30m", g, longest)
	}
	// No resets, 8-digit codes (the best today allows): over the target.
	p8 := anyDoor(float64(g), 1e8)
	near(t, "today 8 digits, no resets", p8, 2.894e-3, 1e-3)
	near(t, "today 6 digits, no resets", anyDoor(float64(g), 1e6), 0.2516, 1e-3)
	// Each success resets the count: MaxFailures guesses per honest pickup.
	reset := float64(p.MaxFailures * honestPickupsPerDay * 30)
	near(t, "today 8 digits, resets", anyDoor(reset, 1e8), 5.824e-2, 1e-3)
	// 8 digits alone allow 500 guesses in 30 days, 16.7 a day: one per 86.4 minutes.
	g8 := targetP * 1e8 / waiting
	if g8 != 500 {
		t.Errorf("8 digits allow %v guesses a month, the ADR says 500", g8)
	}
	t.Logf("today: %d guesses/30 d without resets (P8 = %.3g), %.0f with resets; lock-outs up to %v; 8 digits allow %.0f (one per %v)",
		g, p8, reset, longest, g8, time.Duration(float64(month)/g8))
}

// TestKeypadBudgetDesign: the chosen defaults meet both targets, and so does every
// policy in the range the device is to accept.
func TestKeypadBudgetDesign(t *testing.T) {
	k := adr0046Default
	g := gatedGuesses(k.delay)
	p := anyDoor(g, k.space())
	w := k.honestWait()
	if g != 432001 {
		t.Errorf("default: %v guesses in 30 days, the ADR says 432001", g)
	}
	near(t, "default P", p, 8.640e-5, 1e-3)
	if w != 86*time.Second {
		t.Errorf("default honest wait %v, the ADR says 86s", w)
	}
	if p > targetP || w > targetWait {
		t.Errorf("default misses a target: P = %.3g (≤ %g), wait %v (≤ %v)", p, targetP, w, targetWait)
	}
	// A targeted attacker who knows the victim's phone guesses the code alone, for as
	// long as that parcel waits (retention).
	ret := locker.DefaultPolicy().Retention
	pt := -math.Expm1(math.Floor(float64(ret)/float64(k.delay)) * math.Log1p(-math.Pow(10, -float64(k.codeDigits))))
	near(t, "targeted, phone known, one parcel's retention", pt, 4.32e-4, 1e-3)
	t.Logf("default L=%d+%d, D=%v: %.0f guesses/30 d (%.0f a day), P = %.3g (1 in %.0f); honest wait ≤ %v (one attempt %v); targeted %.3g",
		k.codeDigits, phone, k.delay, g, float64(24*time.Hour)/float64(k.delay), p, 1/p, w, w/attempts, pt)

	for l := minDigits; l <= maxDigits; l++ {
		for _, d := range []time.Duration{minDelay, maxDelay} {
			c := keypadDesign{codeDigits: l, delay: d}
			if p, w := anyDoor(gatedGuesses(d), c.space()), c.honestWait(); p > targetP || w > targetWait {
				t.Errorf("valid policy L=%d D=%v misses a target: P = %.3g, wait %v", l, d, p, w)
			}
		}
	}
}

// TestKeypadBudgetAlternatives: the rejected options miss a target, by the ADR's figures.
func TestKeypadBudgetAlternatives(t *testing.T) {
	d := adr0046Default.delay
	g := gatedGuesses(d)
	// Longer codes alone (no phone digits): 12 digits to reach the target with margin.
	near(t, "11 digits alone", anyDoor(g, 1e11), 8.636e-4, 1e-3)
	near(t, "12 digits alone", anyDoor(g, 1e12), 8.640e-5, 1e-3)
	// 8 digits alone, gated at D: the target needs D ≥ 5184 s, far beyond the wait.
	near(t, "8 digits alone at D", anyDoor(g, 1e8), 0.5785, 1e-3)
	need := time.Duration(float64(month) / (targetP * 1e8 / waiting))
	if need != 5184*time.Second {
		t.Errorf("8 digits need D = %v, the ADR says 5184s", need)
	}
	// The QR's 128-bit secret needs no gate at all.
	scans := qrScansPerSecond * month.Seconds()
	pq := waiting * scans / math.Pow(2, qrBits)
	if pq > 1e-25 {
		t.Errorf("QR guessing P = %.3g", pq)
	}
	// Migration: 8-digit scheme-1 parcels under today's lock-out without resets, for the
	// longest an old parcel can still wait (announced_keep + retention).
	dp := locker.DefaultPolicy()
	lg, _ := lockoutGuesses(dp.CodeThrottle, dp.AnnouncedKeep+dp.Retention)
	near(t, "legacy window, 200 old 8-digit parcels", anyDoor(float64(lg), math.Pow(10, float64(legacyDigits))), 1.641e-3, 1e-2)
	t.Logf("alternatives: 8 digits alone P = %.3g at D=%v (needs D = %v); QR P = %.2g; legacy window %d guesses",
		anyDoor(g, 1e8), d, need, pq, lg)
}

// TestKeypadBudgetRangeIsValidate: the corners the design test checks are the ones
// Policy.Validate accepts, and just outside them it refuses.
func TestKeypadBudgetRangeIsValidate(t *testing.T) {
	for _, tc := range []struct {
		l  int
		d  time.Duration
		ok bool
	}{
		{minDigits, minDelay, true}, {maxDigits, maxDelay, true},
		{minDigits - 1, minDelay, false}, {maxDigits + 1, maxDelay, false},
		{minDigits, minDelay - time.Second, false}, {maxDigits, maxDelay + time.Second, false},
	} {
		p := locker.DefaultPolicy()
		p.CodeEntry.MinLength, p.CodeEntry.Delay = tc.l, tc.d
		if err := p.Validate(); (err == nil) != tc.ok {
			t.Errorf("L=%d D=%v: Validate = %v, want ok=%v", tc.l, tc.d, err, tc.ok)
		}
	}
	if err := locker.DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
}
