package locker

import (
	"context"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/gate"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/store"
)

// The inputs a code comes from, for the code gate (gate.Input); callers name theirs
// with WithInput.
type Input = gate.Input

// The inputs a station knows.
const (
	InputKeypad, InputScanner, InputControl, InputOther = gate.InputKeypad, gate.InputScanner, gate.InputControl, gate.InputOther
)

// WithInput returns ctx naming the input a code entered through it comes from.
func WithInput(ctx context.Context, in Input) context.Context { return gate.WithInput(ctx, in) }

// loadCodeGate makes the gate at start and reads its stored record.
func (s *Station) loadCodeGate(t store.Tx) (err error) {
	s.gate, s.codeGate, err = gate.Load(t, gate.WallClock(s.clock), s.policy.CodeEntry.Delay)
	return err
}

// failCode records one failed code evaluation at now: the failure counts in RAM, the
// gate's record is written if the last write is gate.WriteEvery old, and past the
// policy's limit the guessing alarm is raised. legacy says whether a scheme-1 lookup
// was part of it, which also counts on the legacy lock-out (its throttled event
// included), never reset by a success. s.mu is held; the caller reports Done(true)
// to the gate afterwards.
func (s *Station) failCode(now time.Time, legacy bool) error {
	g, write := s.codeGate.Fail(now)
	_, alarmDue := s.codeAlarm.Check(now, gate.AlarmWindow, s.policy.CodeEntry.AlarmFailures)
	next := s.codeThr
	var lock time.Duration
	if legacy {
		lock = next.Fail(s.policy.CodeThrottle, now)
	}
	if !write && !alarmDue && !legacy {
		s.codeGate = g
		s.codeAlarm.Fail(now, gate.AlarmWindow, s.policy.CodeEntry.AlarmFailures)
		return nil
	}
	err := s.update(func(t *txn) error {
		if write {
			if err := t.st.PutMeta(store.MetaCodeGate, g); err != nil {
				return err
			}
		}
		if err := s.alarm(t, &s.codeAlarm, ThrottleCode, "code entries"); err != nil {
			return err
		}
		if !legacy {
			return nil
		}
		if err := t.st.PutMeta(store.MetaCodeThrottle, next); err != nil {
			return err
		}
		if lock > 0 {
			return t.emit(gate.Throttled(ThrottleCode, "", next.Failures, lock, fmt.Sprintf("legacy pickup code lookups locked for %v", lock)))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("locker: record failure: %w", err)
	}
	s.codeGate, s.codeThr = g, next
	if lock > 0 {
		s.log.Warn("legacy code lookups throttled", "failures", next.Failures, "locked_for", lock)
	}
	return nil
}

// alarm counts one failure of source in w and emits the guessing event when due; what
// names the failures in its reason ("code entries", "QR scans"). The window lives in
// RAM: a restart forgets it, and the gate still bounds guessing.
func (s *Station) alarm(t *txn, w *gate.Window, source, what string) error {
	n, due := w.Fail(t.now, gate.AlarmWindow, s.policy.CodeEntry.AlarmFailures)
	if !due {
		return nil
	}
	s.log.Warn("guessing alarm", "source", source, "failures", n, "window", gate.AlarmWindow)
	return t.emit(gate.Guessing(source, what, n, s.policy.CodeEntry.AlarmFailures))
}

// ClearThrottle clears, on an operator's signed command, the lock-out of source
// (ThrottleCode: the legacy-code lock-out and the guessing alarms' windows;
// ThrottleCourier: the courier lock-out). It cannot shorten the code gate, which never
// holds longer than its delay. It is audited as a throttle_cleared event naming the
// operator and command.
func (s *Station) ClearThrottle(ctx context.Context, source, operator, command string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var th *gate.Lockout
	var key store.Meta
	switch source {
	case ThrottleCode:
		th, key = &s.codeThr, store.MetaCodeThrottle
	case ThrottleCourier:
		th, key = &s.courThr, store.MetaCourierThrottle
	default:
		return fmt.Errorf("locker: clear-throttle: source must be %q or %q", ThrottleCode, ThrottleCourier)
	}
	err := s.update(func(t *txn) error {
		if err := t.st.PutMeta(key, gate.Lockout{}); err != nil {
			return err
		}
		return t.emit(Event{Type: EvThrottleCleared, Source: source, Actor: operator, Command: command,
			Count: th.Failures, Reason: "operator cleared the " + model.ThrottleWhat[source] + " throttle"})
	})
	if err != nil {
		return fmt.Errorf("locker: clear-throttle: %w", err)
	}
	*th = gate.Lockout{}
	if source == ThrottleCode {
		s.codeAlarm.Reset()
		s.qrAlarm.Reset()
	}
	s.log.Info("throttle cleared", "source", source)
	return nil
}

// legacyDefault turns legacy_codes on at start for a store that holds scheme-1
// verifiers while no policy written since ADR 0046 said otherwise: parcels announced
// before the upgrade keep opening until the cloud re-issues them (its Migration).
func (s *Station) legacyDefault(t store.Tx, stored Policy) error {
	if s.policy.LegacyCodes || (stored.Version > 0 && stored.CodeEntry != (CodeEntry{})) {
		return nil
	}
	n, err := t.CountLegacy()
	if err != nil {
		return fmt.Errorf("locker: count legacy verifiers: %w", err)
	}
	if n > 0 {
		s.policy.LegacyCodes = true
		s.log.Warn("parcels with scheme-1 codes are waiting: legacy_codes on until the cloud re-issues them", "parcels", n)
	}
	return nil
}

// CodeGateWait returns how long a code entered now would wait for the gate at least:
// what the panel shows while it checks.
func (s *Station) CodeGateWait() time.Duration { return s.gate.Wait() }
