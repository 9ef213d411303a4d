package panel

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/waybill"
)

// sizeKeys are the keys a courier presses to choose the size of unannounced parcels.
var sizeKeys = map[keypad.Key]locker.Size{'1': locker.SizeS, '2': locker.SizeM, '3': locker.SizeL, '4': locker.SizeXL}

// KeyMoreTime restarts the time of a partly typed entry or of a courier session (the
// C key of a 4x4 pad, the kiosk's "More time" button). It changes nothing else.
const KeyMoreTime keypad.Key = 'C'

// Courier keys during a session besides the sizes.
const (
	keyUndo     keypad.Key = '0' // cancel the last deposit
	keyRetrieve keypad.Key = '9' // open doors with expired or recalled parcels
)

// handle acts on one input at now and wipes its scan.
func (p *Panel) handle(ctx context.Context, now time.Time, in Input) {
	defer clear(in.Scan)
	p.expire(now) // a key after a long pause starts afresh
	if in.Scan != nil {
		p.log.Debug("panel: scan", "source", in.Source, "len", len(in.Scan), "symbology", in.Symbology)
		p.scan(ctx, now, in.Scan)
		return
	}
	p.key(ctx, now, in.Key)
}

func (p *Panel) key(ctx context.Context, now time.Time, k keypad.Key) {
	if k == KeyMoreTime {
		// An entry or session running out of time gets its full time again, and the
		// display is told so (WCAG 2.2.1: warned, then extended by a simple action).
		if _, ok := p.deadline(); ok {
			p.last = now
			p.showScreen(p.shown)
		}
		return
	}
	if p.mode == ModeSession {
		p.last = now
		p.sessionKey(ctx, k)
		return
	}
	switch {
	case k.IsDigit():
		if len(p.digits) < maxDigits {
			p.digits = append(p.digits, byte(k))
		}
		if p.mode == ModeIdle {
			p.mode = ModeCode
		}
		p.last = now
		p.show(PromptTyping)
	case k == keypad.KeyEnter && p.mode == ModePhone:
		// An empty phone entry is passed on too: a legacy code alone (ADR 0046).
		code, phone := p.code, bytes.Clone(p.digits)
		p.code = nil
		defer clear(code)
		defer clear(phone)
		p.reset(ModeIdle)
		p.enterCode(ctx, code, phone)
	case k == keypad.KeyClear:
		had := p.mode != ModeIdle
		p.reset(ModeIdle)
		if had {
			p.show(PromptCleared)
		}
	case k == keypad.KeyEnter && len(p.digits) > 0:
		entered := bytes.Clone(p.digits)
		defer clear(entered)
		if p.mode == ModePIN {
			p.login(ctx, now, entered)
			return
		}
		// The code is taken; the phone's last four digits come next.
		p.reset(ModePhone)
		p.code = bytes.Clone(entered)
		p.last = now
		p.show(PromptPhone)
	}
}

func (p *Panel) sessionKey(ctx context.Context, k keypad.Key) {
	if size, ok := sizeKeys[k]; ok {
		p.size = size
		p.show(PromptSize)
		return
	}
	switch k {
	case keypad.KeyClear:
		p.size = p.cfg.DefaultSize
		p.show(PromptSize)
	case keypad.KeyEnter:
		p.st.Logout(p.sid)
		p.log.Info("panel: courier session closed")
		p.reset(ModeIdle)
		p.show(PromptSessionClosed)
	case keyUndo:
		cctx, cancel := p.call(ctx)
		defer cancel()
		p.sessionResult(p.st.Cancel(cctx, p.sid), Screen{Prompt: PromptUndone})
	case keyRetrieve:
		cctx, cancel := p.call(ctx)
		defer cancel()
		slots, err := p.st.Retrieve(cctx, p.sid)
		if err == nil && len(slots) == 0 {
			err = locker.ErrNoPending
		}
		p.sessionResult(err, Screen{Prompt: PromptDoorsOpen, Slots: slots})
	}
}

// sessionResult shows the outcome of a courier's action: ok on success, else the
// error's prompt; a session the station no longer knows ends here too.
func (p *Panel) sessionResult(err error, ok Screen) {
	switch {
	case err == nil:
		p.showScreen(ok)
	case errors.Is(err, locker.ErrNotLoggedIn):
		p.reset(ModeIdle)
		p.show(PromptSessionEnded)
	case errors.Is(err, locker.ErrNoPending):
		p.show(PromptNothing)
	case errors.Is(err, locker.ErrNoRights):
		p.show(PromptNoRights)
	default:
		p.log.Warn("panel: courier action failed", "err", err)
		p.show(PromptError)
	}
}

func (p *Panel) scan(ctx context.Context, now time.Time, code []byte) {
	switch {
	case bytes.HasPrefix(code, []byte(PrefixBadge)):
		token := code[len(PrefixBadge):]
		if len(token) == 0 || len(token) > maxBadge {
			p.show(PromptBadScan)
			return
		}
		if p.mode == ModeSession {
			p.st.Logout(p.sid) // another courier takes over the panel
		}
		p.reset(ModePIN)
		p.badge = bytes.Clone(token)
		p.last = now
		p.show(PromptEnterPIN)
	case bytes.HasPrefix(code, []byte(PrefixQR)), bytes.HasPrefix(code, []byte(PrefixCode)):
		if p.mode == ModeSession {
			p.last = now
			p.show(PromptFinishFirst)
			return
		}
		p.reset(ModeIdle)
		if bytes.HasPrefix(code, []byte(PrefixQR)) {
			p.enterQR(ctx, code[len(PrefixQR):])
			return
		}
		p.enterCode(ctx, code[len(PrefixCode):], nil) // a legacy code alone
	case p.mode == ModeSession:
		p.last = now
		p.deposit(ctx, code)
	case p.mode == ModePIN:
		p.last = now
		p.show(PromptEnterPIN)
	default:
		p.reset(ModeIdle)
		p.handover(ctx, code)
	}
}

// throttled reports whether the station locked this kind of entry until after now,
// and if so shows how long remains: the panel does not even ask the station.
func (p *Panel) throttled(now, until time.Time) bool {
	if !now.Before(until) {
		return false
	}
	p.showScreen(Screen{Prompt: PromptLocked, RetryAfter: until.Sub(now).Round(time.Second)})
	return true
}

// lockout remembers a station's ThrottledError and shows it.
func (p *Panel) lockout(now time.Time, err error, until *time.Time) bool {
	var te *locker.ThrottledError
	if !errors.As(err, &te) {
		return false
	}
	*until = now.Add(te.RetryAfter)
	p.showScreen(Screen{Prompt: PromptLocked, RetryAfter: te.RetryAfter})
	return true
}

// enterCode asks the station for the parcels of a code and phone digits (empty: a
// legacy code alone). The station spaces evaluations (ADR 0046): the panel shows
// "checking" with the wait while it does, and keeps no lock-out of its own.
func (p *Panel) enterCode(ctx context.Context, code, phone []byte) {
	if g, ok := p.st.(interface{ CodeGateWait() time.Duration }); ok {
		if w := g.CodeGateWait(); w > 0 {
			p.showScreen(Screen{Prompt: PromptChecking, RetryAfter: w.Round(time.Second)})
		}
	}
	cctx, cancel := p.call(ctx)
	defer cancel()
	res, err := p.st.EnterCode(locker.WithInput(cctx, locker.InputKeypad), string(code), string(phone))
	p.pickupResult(res, err, len(code))
}

// enterQR asks the station for the parcels of a pickup QR's secret: never spaced.
func (p *Panel) enterQR(ctx context.Context, secret []byte) {
	cctx, cancel := p.call(ctx)
	defer cancel()
	res, err := p.st.EnterQR(locker.WithInput(cctx, locker.InputScanner), string(secret))
	p.pickupResult(res, err, len(secret))
}

// pickupResult shows what a code or QR opened, or why nothing did.
func (p *Panel) pickupResult(res locker.Pickup, err error, n int) {
	if err == nil {
		// Staff's next scan here confirms this entry's shelf parcels, and no one
		// else's (empty when they are all behind doors).
		p.shelfEntry = res.Handover
	}
	var te *locker.ThrottledError
	switch {
	case err == nil && len(res.Slots) > 0 && res.Slots[0].Kind == locker.KindShelf:
		p.log.Info("panel: pickup at a shelf", "slots", len(res.Slots))
		p.showScreen(Screen{Prompt: PromptShelf, Slots: res.Slots, Failed: res.Failed})
	case err == nil && len(res.Slots) > 0:
		p.log.Info("panel: pickup", "doors", len(res.Slots), "failed", len(res.Failed))
		p.showScreen(Screen{Prompt: PromptDoorsOpen, Slots: res.Slots, Failed: res.Failed})
	case err == nil:
		p.log.Warn("panel: pickup doors failed", "failed", len(res.Failed))
		p.showScreen(Screen{Prompt: PromptDoorFault, Failed: res.Failed})
	case errors.As(err, &te): // a legacy code alone while its lock-out runs: said, not remembered
		p.log.Warn("panel: legacy code entry locked", "retry_after", te.RetryAfter)
		p.showScreen(Screen{Prompt: PromptLocked, RetryAfter: te.RetryAfter})
	case errors.Is(err, locker.ErrCodeFormat):
		p.log.Info("panel: not a code", "len", n)
		length := 0
		if pol, ok := p.st.(interface{ Policy() locker.Policy }); ok {
			length = pol.Policy().CodeEntry.MinLength
		}
		p.showScreen(Screen{Prompt: PromptCodeFormat, CodeLength: length})
	case errors.Is(err, locker.ErrWrongCode):
		p.log.Info("panel: code not recognised", "len", n)
		p.show(PromptWrongCode)
	default:
		p.log.Warn("panel: pickup failed", "err", err)
		p.show(PromptError)
	}
}

func (p *Panel) login(ctx context.Context, now time.Time, pin []byte) {
	badge := bytes.Clone(p.badge)
	defer clear(badge)
	p.reset(ModeIdle)
	if p.throttled(now, p.loginLocked) {
		return
	}
	cctx, cancel := p.call(ctx)
	defer cancel()
	sid, err := p.st.Login(cctx, string(badge), string(pin))
	switch {
	case err == nil:
		p.reset(ModeSession)
		p.sid, p.last = sid, now
		p.log.Info("panel: courier session opened")
		p.show(PromptSessionOpen)
	case p.lockout(now, err, &p.loginLocked):
		p.log.Warn("panel: courier login locked", "retry_after", p.loginLocked.Sub(now))
	case errors.Is(err, locker.ErrBadCredentials):
		p.log.Info("panel: courier login refused", "pin_len", len(pin))
		p.show(PromptBadBadge)
	default:
		p.log.Warn("panel: courier login failed", "err", err)
		p.show(PromptError)
	}
}

func (p *Panel) deposit(ctx context.Context, code []byte) {
	cctx, cancel := p.call(ctx)
	defer cancel()
	slot, err := p.st.Scan(cctx, p.sid, string(code), p.size)
	switch {
	case err == nil:
		p.log.Info("panel: deposit", "compartment", int(slot.Compartment))
		p.showScreen(Screen{Prompt: PromptDeposit, Slots: []locker.Slot{slot}})
	case errors.Is(err, locker.ErrSizeRequired):
		p.show(PromptChooseSize)
	case errors.Is(err, locker.ErrDuplicateScan):
		p.show(PromptDuplicate)
	case errors.Is(err, locker.ErrAlreadyHere), errors.Is(err, locker.ErrNotDepositable):
		p.show(PromptAlreadyHere)
	case errors.Is(err, locker.ErrNoFreeCompartment):
		p.show(PromptNoFree)
	case errors.Is(err, locker.ErrUnlock):
		p.log.Warn("panel: deposit door did not unlock", "err", err)
		p.showScreen(Screen{Prompt: PromptDoorFault, Failed: []locker.Slot{slot}})
	case badScan(err):
		p.log.Info("panel: scan refused", "len", len(code))
		p.show(PromptBadScan)
	default:
		p.sessionResult(err, Screen{})
	}
}

func (p *Panel) handover(ctx context.Context, code []byte) {
	cctx, cancel := p.call(ctx)
	defer cancel()
	slot, err := p.st.Handover(cctx, p.shelfEntry, string(code))
	switch {
	case err == nil:
		p.log.Info("panel: handover", "compartment", int(slot.Compartment))
		p.showScreen(Screen{Prompt: PromptHandedOver, Slots: []locker.Slot{slot}})
	case errors.Is(err, locker.ErrNoHandover):
		p.show(PromptLoginFirst)
	case errors.Is(err, locker.ErrWrongParcel):
		p.show(PromptWrongParcel)
	case badScan(err):
		p.show(PromptBadScan)
	default:
		p.log.Warn("panel: handover failed", "err", err)
		p.show(PromptError)
	}
}

// badScan reports whether the station refused a scan as not a tracking number.
func badScan(err error) bool {
	for _, e := range []error{waybill.ErrEmpty, waybill.ErrTooLong, waybill.ErrCharset, waybill.ErrCheckDigit, waybill.ErrFormat} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
