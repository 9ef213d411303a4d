package gate

import (
	"context"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/store"
)

// Input names where a guessed secret comes from (ADR 0046): one attempt waits per
// input, the keypad's first. Callers name theirs with WithInput.
type Input string

// The inputs a station knows.
const (
	InputKeypad  Input = "keypad"  // the panel's keypad, where a person stands: served first
	InputScanner Input = "scanner" // a QR code (LKC:) read by the scanner
	InputControl Input = "control" // the control socket
	InputOther   Input = "other"   // anything that did not say
)

type inputKey struct{}

// WithInput returns ctx naming the input a code entered through it comes from.
func WithInput(ctx context.Context, in Input) context.Context {
	return context.WithValue(ctx, inputKey{}, in)
}

// InputOf returns the input ctx names, InputOther when none.
func InputOf(ctx context.Context) Input {
	if in, ok := ctx.Value(inputKey{}).(Input); ok && in != "" {
		return in
	}
	return InputOther
}

// AlarmWindow is the span the guessing alarm counts failures in.
const AlarmWindow = time.Hour

// Record is what the store keeps of a code gate: the time of the last failed
// evaluation written (at most one write per WriteEvery) and the failures per hour,
// for status. A start with a failure on record holds the gate closed for one delay,
// whatever the stored time says (Holds).
type Record struct {
	LastFailure time.Time `json:"last_failure,omitzero"`
	Hours       Tally     `json:"hours"`
}

// WriteEvery is how often, at most, failed evaluations write the record: a start holds
// the gate for one delay whenever any failure is on record, so the spacing needs no
// write per failure, which would only wear the card (the record feeds status).
const WriteEvery = 10 * time.Minute

// Fail returns r with one more failed evaluation at now, and whether it is due to be
// written: the first failure always is, then one every WriteEvery (or after the clock
// went back).
func (r Record) Fail(now time.Time) (next Record, write bool) {
	r.Hours.Add(now)
	write = now.Sub(r.LastFailure) >= WriteEvery || now.Before(r.LastFailure)
	if write {
		r.LastFailure = now
	}
	return r, write
}

// Holds reports whether a gate starting from r must hold for one delay: a failure is on
// record. The stored time may be on a wall clock that has moved, and a restart must
// never shorten the spacing (ADR 0046).
func (r Record) Holds() bool { return !r.LastFailure.IsZero() }

// WallClock makes a Clock of c: one that also has AfterFunc (a test's) drives the
// gate's waits; otherwise time.AfterFunc does.
func WallClock(c interface{ Now() time.Time }) Clock { return wallClock{c} }

type wallClock struct{ now interface{ Now() time.Time } }

func (c wallClock) Now() time.Time { return c.now.Now() }

func (c wallClock) AfterFunc(d time.Duration, f func()) func() bool {
	if a, ok := c.now.(interface {
		AfterFunc(time.Duration, func()) func() bool
	}); ok {
		return a.AfterFunc(d, f)
	}
	return time.AfterFunc(d, f).Stop
}

// Load makes the gate at start, on clock with the policy's delay, and reads its stored
// record from r: a station that ever saw a failure holds (the first one is always
// written).
func Load(r interface {
	GetMeta(k store.Meta, v any) (bool, error)
}, clock Clock, delay time.Duration) (*Gate, Record, error) {
	var rec Record
	if _, err := r.GetMeta(store.MetaCodeGate, &rec); err != nil {
		return nil, rec, fmt.Errorf("locker: stored code gate: %w", err)
	}
	g := New(clock, delay)
	if rec.Holds() {
		g.Hold()
	}
	return g, rec, nil
}
