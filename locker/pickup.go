package locker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/door"
	"github.com/lockerd/lockerd/locker/gate"
	"github.com/lockerd/lockerd/locker/lookup"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
	"github.com/lockerd/lockerd/locker/waybill"
)

// EnterCode takes a recipient's pickup code and their phone's last four digits
// (docs/adr/0046-keypad-guessing-budget.md). Malformed input (a code outside the
// policy's length to 12 digits, last4 not four digits) is refused with ErrCodeFormat
// at once, costing nothing. Otherwise the attempt waits for the code gate (no sooner
// than the policy's delay after the last failed evaluation, the keypad first, one
// waiting per input: another gets ErrInputBusy; ctx bounds the wait), then every
// deposited parcel filed under the verifier opens; on a shelf the location is shown
// and the handover waits for a scan of the parcel. A success resets nothing.
//
// While the policy's legacy_codes is set, the same evaluation also looks up the
// scheme-1 verifier of the code alone (6-8 digits), and an empty last4 asks for that
// lookup only; a failure then also counts on the legacy lock-out, which while locked
// skips only that lookup. The only durable write on the way to the unlock is the one
// that records the operation.
func (s *Station) EnterCode(ctx context.Context, code, last4 string) (Pickup, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Pickup{}, ErrClosed
	}
	pol := s.policy
	legacyLock := s.codeThr.Check(pol.CodeThrottle, s.clock.Now())
	s.mu.Unlock()

	entry, err := lookup.ParseEntry(code, last4, pol.CodeEntry.MinLength, pol.LegacyCodes)
	if err != nil {
		return Pickup{}, ErrCodeFormat
	}
	if legacyLock > 0 {
		if entry.Code == "" {
			return Pickup{}, &ThrottledError{RetryAfter: legacyLock}
		}
		entry.Legacy = "" // locked: scheme-2 codes are still served
	}

	in := gate.InputOf(ctx)
	tk, err := s.gate.Enter(ctx, string(in), in == InputKeypad)
	if err != nil {
		if errors.Is(err, gate.ErrBusy) {
			return Pickup{}, ErrInputBusy
		}
		return Pickup{}, err
	}
	defer tk.Done(false) // nothing evaluated (a key store fault); a no-op once done below

	keys, err := entry.Keys(s.keys)
	if err != nil {
		return Pickup{}, err
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Pickup{}, ErrClosed
	}
	now := s.clock.Now()
	cl, err := s.openFor(keys)
	if errors.Is(err, errWrong) {
		err = s.failCode(now, entry.Legacy != "")
		if err == nil {
			err = ErrWrongCode
		}
		tk.Done(true)
		s.mu.Unlock()
		return Pickup{}, err
	}
	tk.Done(false)
	if err != nil {
		s.mu.Unlock()
		return Pickup{}, fmt.Errorf("locker: pickup: %w", err)
	}
	return s.finishPickup(ctx, cl, now), nil
}

// EnterQR takes the secret of a pickup QR (what follows "LKQ:"). It is never gated and
// never blocked by keypad failures: a 128-bit secret needs no spacing (ADR 0046). A
// malformed secret is ErrCodeFormat; a wrong one counts only towards the guessing
// alarm (source qr).
func (s *Station) EnterQR(ctx context.Context, secret string) (Pickup, error) {
	q, err := privacy.NormaliseQR(secret)
	if err != nil {
		return Pickup{}, ErrCodeFormat
	}
	v, err := privacy.QRDigest(s.keys, q)
	if err != nil {
		return Pickup{}, fmt.Errorf("locker: key store: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Pickup{}, ErrClosed
	}
	now := s.clock.Now()
	cl, err := s.openFor([]lookup.Key{{Kind: lookup.QR, V: v}})
	switch {
	case errors.Is(err, errWrong):
		// Only a due alarm is written; otherwise the failure is counted in RAM alone.
		if _, due := s.qrAlarm.Check(now, gate.AlarmWindow, s.policy.CodeEntry.AlarmFailures); !due {
			s.qrAlarm.Fail(now, gate.AlarmWindow, s.policy.CodeEntry.AlarmFailures)
		} else if err := s.update(func(t *txn) error { return s.alarm(t, &s.qrAlarm, ThrottleQR, "QR scans") }); err != nil {
			s.mu.Unlock()
			return Pickup{}, fmt.Errorf("locker: record failure: %w", err)
		}
		s.mu.Unlock()
		return Pickup{}, ErrWrongCode
	case err != nil:
		s.mu.Unlock()
		return Pickup{}, fmt.Errorf("locker: pickup: %w", err)
	}
	return s.finishPickup(ctx, cl, now), nil
}

// openFor finds the parcels filed under any of keys and reserves their doors, in one
// transition; errWrong when none is here. s.mu is held.
func (s *Station) openFor(keys []lookup.Key) (door.Claims, error) {
	var parcels []*Parcel
	if err := s.store.View(func(t store.Tx) error {
		for _, k := range keys {
			found, err := s.index.ByVerifier(t, k, s.liveEpochs())
			if err != nil {
				return err
			}
			parcels = append(parcels, found...)
		}
		return nil
	}); err != nil {
		return door.Claims{}, fmt.Errorf("locker: code lookup: %w", err)
	}
	if len(parcels) == 0 {
		return door.Claims{}, errWrong // no write transaction for a miss
	}
	var cl door.Claims
	err := s.update(func(t *txn) error {
		var ok bool
		var err error
		if cl, ok, err = door.PickupAll(t, parcels); err == nil && !ok {
			return errWrong
		}
		// A success resets nothing (ADR 0046): the gate is a spacing no success can
		// buy back, and the legacy lock-out's count stays too.
		return err
	})
	return cl, err
}

// finishPickup records the handover of shelf parcels, releases s.mu (held on entry)
// and pulses the doors reserved.
func (s *Station) finishPickup(ctx context.Context, cl door.Claims, now time.Time) Pickup {
	res := cl.Pickup
	if len(cl.Shelved) > 0 {
		res.Handover = s.handovers.Start(cl.Shelved, now.Add(s.policy.HandoverTimeout))
	}
	s.mu.Unlock()
	for _, sl := range cl.Pulses {
		if err := s.pulse(ctx, sl); err != nil {
			res.Unpulsed(sl)
		}
	}
	return res
}

var errWrong = errors.New("no parcel under this code")

// failThrottle counts one failure durably, raises the throttled alarm when a lock-out
// starts, and returns the error to give the person at the keypad.
func (s *Station) failThrottle(th *gate.Lockout, p ThrottlePolicy, key store.Meta, source string, cause error) error {
	next := *th
	d := next.Fail(p, s.clock.Now())
	err := s.update(func(t *txn) error {
		if err := t.st.PutMeta(key, next); err != nil {
			return err
		}
		if d > 0 {
			return t.emit(gate.Throttled(source, "", next.Failures, d, fmt.Sprintf("%s entry locked for %v", model.ThrottleWhat[source], d)))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("locker: record failure: %w", err)
	}
	*th = next
	if d > 0 {
		s.log.Warn("entry throttled", "source", source, "failures", next.Failures, "locked_for", d)
		return &ThrottledError{RetryAfter: d}
	}
	return cause
}

func (s *Station) resetThrottle(th *gate.Lockout, key store.Meta) error {
	if th.Failures == 0 {
		return nil
	}
	if err := s.update(func(t *txn) error { return t.st.PutMeta(key, gate.Lockout{}) }); err != nil {
		return err
	}
	*th = gate.Lockout{}
	return nil
}

// Handover confirms, at a staffed station, that the parcel being handed over is one
// of those the code entry named by id (Pickup.Handover) showed: staff scan it, and
// only a parcel of that entry completes the pickup, whoever else waits at the
// counter. A mismatch is refused, audited and raised as an alarm.
func (s *Station) Handover(ctx context.Context, id, raw string) (Slot, error) {
	canonical, err := waybill.Normalise(raw)
	if err != nil {
		return Slot{}, fmt.Errorf("locker: scan refused: %w", err)
	}
	d, err := privacy.WaybillDigest(s.keys, canonical)
	if err != nil {
		return Slot{}, fmt.Errorf("locker: key store: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Slot{}, ErrClosed
	}
	h := s.handovers.Waiting(id, s.clock.Now())
	if h == nil {
		return Slot{}, ErrNoHandover
	}
	var slot Slot
	matched := false
	err = s.update(func(t *txn) (err error) {
		match := func(p *Parcel) bool { return s.index.Matches(p, d) }
		slot, matched, err = door.HandOverScanned(t, h.Parcels, match, len(s.handovers))
		return err
	})
	if err != nil {
		return Slot{}, fmt.Errorf("locker: handover: %w", err)
	}
	if !matched {
		s.log.Warn("handover refused: wrong parcel scanned", "waiting", len(s.handovers))
		return Slot{}, ErrWrongParcel
	}
	s.handovers.Done(id, slot.Parcel)
	return slot, nil
}
