// Package panel is the locker's front panel: it turns keypad keys and scanner scans
// into station calls (a recipient's code or pickup QR, a courier's badge and PIN, then
// deposit scans; handovers at a staffed station) and shows its state on a Display. It
// follows the conventions of ADR 0013 and never logs a code, PIN, badge or scan: only
// kinds and lengths. The firmware feeds it from the keypad and scanner drivers.
package panel

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lockerd/lockerd/locker"
)

// Station is what the front panel needs of the station; *locker.Station
// implements it, and tests use a fake that records the calls.
type Station interface {
	EnterCode(ctx context.Context, code, last4 string) (locker.Pickup, error)
	EnterQR(ctx context.Context, secret string) (locker.Pickup, error)
	Login(ctx context.Context, badge, pin string) (string, error)
	Logout(sid string)
	Scan(ctx context.Context, sid, raw string, size locker.Size) (locker.Slot, error)
	Cancel(ctx context.Context, sid string) error
	Retrieve(ctx context.Context, sid string) ([]locker.Slot, error)
	Handover(ctx context.Context, id, raw string) (locker.Slot, error)
}

var _ Station = (*locker.Station)(nil)

// Scan payloads the panel recognises besides tracking numbers (ADR 0013).
const (
	PrefixQR    = "LKQ:" // a recipient's pickup QR: LKQ:<26 base32 characters> (ADR 0046)
	PrefixCode  = "LKC:" // a legacy pickup-code QR: LKC:<digits>, a scheme-1 code alone
	PrefixBadge = "LKB:" // a courier's badge QR: LKB:<token>
)

// Panel defaults.
const (
	DefaultPanelIdle    = 60 * time.Second
	DefaultEntryTimeout = 10 * time.Second
	DefaultCallTimeout  = 15 * time.Second
	maxDigits           = 12  // longer than any code or PIN: further digits are ignored
	maxBadge            = 128 // a longer badge payload is not a badge
)

// Config configures a Panel; zero fields take the defaults.
type Config struct {
	DefaultSize  locker.Size   // unannounced parcels when the courier chose no size; SizeUnknown: ask
	Idle         time.Duration // a courier session with no input this long ends; default 60 s
	EntryTimeout time.Duration // a partial code or PIN is dropped after this; default 10 s
	CallTimeout  time.Duration // bounds each station call; default 15 s
}

// Panel turns keypad keys and scans into station calls, following the conventions of
// ADR 0013: a recipient types a code and '#', then their phone's last four digits and
// '#', or shows an LKQ: QR (ADR 0046); a courier shows an
// LKB: badge and types the PIN and '#', which opens a session in which scans are
// deposits. One goroutine (Run) owns its state; Input may be called from any
// goroutine. It never logs a code, PIN, badge or scan: only kinds and lengths.
type Panel struct {
	st      Station
	cfg     Config
	disp    Display
	log     *slog.Logger
	in      chan Input
	dropped atomic.Uint64

	// Owned by the Run goroutine.
	mode        Mode
	digits      []byte
	badge       []byte
	sid         string
	size        locker.Size
	last        time.Time // last key or scan: entry timeout and session idle
	code        []byte    // ModePhone: the code typed before the phone's digits
	shelfEntry  string    // the last code entry's shelf handover (locker.Pickup.Handover)
	loginLocked time.Time // the station throttled courier logins until then
	shown       Screen    // the last screen shown, shown again by KeyMoreTime
}

// New returns a panel; Run starts it.
func New(st Station, cfg Config, d Display, log *slog.Logger) *Panel {
	if cfg.Idle <= 0 {
		cfg.Idle = DefaultPanelIdle
	}
	if cfg.EntryTimeout <= 0 {
		cfg.EntryTimeout = DefaultEntryTimeout
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if log == nil {
		log = slog.Default()
	}
	if d == nil {
		d = LogDisplay{Log: log}
	}
	return &Panel{st: st, cfg: cfg, disp: d, log: log, in: make(chan Input, 32), mode: ModeIdle,
		digits: make([]byte, 0, maxDigits), size: cfg.DefaultSize}
}

// Input queues a key or scan. It never blocks a driver's goroutine: when 32 inputs
// are already waiting the input is dropped (and its scan wiped).
func (p *Panel) Input(in Input) {
	select {
	case p.in <- in:
	default:
		clear(in.Scan)
		p.dropped.Add(1)
	}
}

// Dropped counts inputs dropped because the panel was busy.
func (p *Panel) Dropped() uint64 { return p.dropped.Load() }

// Run handles inputs and timeouts until ctx ends, then ends an open courier session
// and wipes any partial entry. It returns nil.
func (p *Panel) Run(ctx context.Context) error {
	p.show(PromptWelcome)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		if d, ok := p.deadline(); ok {
			t.Reset(max(time.Until(d), 0))
		} else {
			t.Reset(time.Hour)
		}
		select {
		case <-ctx.Done():
			p.shutdown()
			return nil
		case in := <-p.in:
			p.handle(ctx, time.Now(), in)
		case <-t.C:
			p.expire(time.Now())
		}
	}
}

func (p *Panel) shutdown() {
	if p.sid != "" {
		p.st.Logout(p.sid)
	}
	p.reset(ModeIdle)
	for {
		select {
		case in := <-p.in:
			clear(in.Scan)
		default:
			return
		}
	}
}

// deadline is when the current entry or session times out, if anything is pending.
func (p *Panel) deadline() (time.Time, bool) {
	switch p.mode {
	case ModeCode, ModePIN, ModePhone:
		return p.last.Add(p.cfg.EntryTimeout), true
	case ModeSession:
		return p.last.Add(p.cfg.Idle), true
	}
	return time.Time{}, false
}

// expire ends a stale entry or session at now.
func (p *Panel) expire(now time.Time) {
	d, ok := p.deadline()
	if !ok || now.Before(d) {
		return
	}
	if p.mode == ModeSession {
		p.log.Info("panel: courier session ended by inactivity")
		p.st.Logout(p.sid)
		p.reset(ModeIdle)
		p.show(PromptSessionEnded)
		return
	}
	p.reset(ModeIdle)
	p.show(PromptTimedOut)
}

// reset wipes the entry and the badge, forgets the session and enters mode.
func (p *Panel) reset(mode Mode) {
	clear(p.digits[:cap(p.digits)])
	p.digits = p.digits[:0]
	clear(p.badge)
	p.badge = nil
	clear(p.code)
	p.code = nil
	if mode != ModeSession {
		p.sid, p.size = "", p.cfg.DefaultSize
	}
	p.mode = mode
}

func (p *Panel) show(prompt Prompt) { p.showScreen(Screen{Prompt: prompt}) }

// showScreen fills in the mode, digits and size and hands the screen to the display.
func (p *Panel) showScreen(s Screen) {
	s.Mode, s.Digits = p.mode, len(p.digits)
	if p.mode == ModeSession {
		s.Size = p.size
	}
	p.shown = s
	p.disp.Show(s)
}

// call bounds a station call.
func (p *Panel) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.cfg.CallTimeout)
}
