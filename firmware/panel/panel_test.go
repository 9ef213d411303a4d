package panel

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/waybill"
)

// Secrets of the panel tests: none may appear in a log line or on a screen.
const (
	testCode     = "73914682"
	testBadge    = "BADGE-7F3A"
	testPIN      = "2468"
	testTracking = "RB123456785GB"
	testPhone    = "5501"
	testQR       = "K7Q2ZXW4M3N5P6R2S3T4U5V6W7"
)

// fakeStation records the panel's calls in order and answers like a small station.
type fakeStation struct {
	fakeOpts
	mu       sync.Mutex
	calls    []string
	failures int // consecutive failed logins and codes, for the throttle
	sessions int
}

// fakeOpts shape a fakeStation's answers.
type fakeOpts struct {
	throttleN int   // failures before ThrottledError; 0: never
	scanErr   error // returned by Scan when set
	staffed   bool  // a code shows a shelf, and Handover of its entry succeeds
}

func (f *fakeStation) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeStation) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeStation) fail(cause error) error {
	f.failures++
	if f.throttleN > 0 && f.failures >= f.throttleN {
		return &locker.ThrottledError{RetryAfter: 30 * time.Second}
	}
	return cause
}

func (f *fakeStation) EnterCode(_ context.Context, code, phone string) (locker.Pickup, error) {
	f.record("EnterCode %s %s", code, phone)
	if len(code) < 8 {
		return locker.Pickup{}, locker.ErrCodeFormat
	}
	if code != testCode || phone != testPhone {
		return locker.Pickup{}, f.fail(locker.ErrWrongCode)
	}
	return f.opened()
}

func (f *fakeStation) EnterQR(_ context.Context, secret string) (locker.Pickup, error) {
	f.record("EnterQR %s", secret)
	if secret != testQR {
		return locker.Pickup{}, locker.ErrWrongCode
	}
	return f.opened()
}

func (f *fakeStation) opened() (locker.Pickup, error) {
	f.failures = 0
	if f.staffed {
		return locker.Pickup{Slots: []locker.Slot{{Compartment: 1, Label: "shelf K", Kind: locker.KindShelf}}, Handover: "h-1"}, nil
	}
	return locker.Pickup{Slots: []locker.Slot{{Compartment: 3, Label: "A03", Kind: locker.KindDoor}}}, nil
}

func (f *fakeStation) Login(_ context.Context, badge, pin string) (string, error) {
	f.record("Login %s %s", badge, pin)
	if badge != testBadge || pin != testPIN {
		return "", f.fail(locker.ErrBadCredentials)
	}
	f.failures = 0
	f.sessions++
	return fmt.Sprintf("sid-%d", f.sessions), nil
}

func (f *fakeStation) Logout(sid string) { f.record("Logout %s", sid) }

func (f *fakeStation) Scan(_ context.Context, sid, raw string, size locker.Size) (locker.Slot, error) {
	f.record("Scan %s %s %v", sid, raw, size)
	switch {
	case f.scanErr != nil:
		return locker.Slot{}, f.scanErr
	case size == locker.SizeUnknown:
		return locker.Slot{}, locker.ErrSizeRequired
	}
	return locker.Slot{Compartment: 7, Label: "B07", Kind: locker.KindDoor}, nil
}

func (f *fakeStation) Cancel(_ context.Context, sid string) error {
	f.record("Cancel %s", sid)
	return nil
}

func (f *fakeStation) Retrieve(_ context.Context, sid string) ([]locker.Slot, error) {
	f.record("Retrieve %s", sid)
	return nil, nil
}

func (f *fakeStation) Handover(_ context.Context, id, raw string) (locker.Slot, error) {
	f.record("Handover [%s] %s", id, raw)
	if !f.staffed || id != "h-1" {
		return locker.Slot{}, locker.ErrNoHandover
	}
	return locker.Slot{Compartment: 1, Label: "shelf K", Kind: locker.KindShelf}, nil
}

// screens is a Display that keeps every screen.
type screens struct {
	mu  sync.Mutex
	all []Screen
}

func (s *screens) Show(sc Screen) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, sc)
}

func (s *screens) last() Screen {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.all) == 0 {
		return Screen{}
	}
	return s.all[len(s.all)-1]
}

// step is one thing that happens in front of the panel, at an offset from the start:
// "k:<keys>" types keys, "s:<payload>" shows a scan, "t" only lets time pass.
type step struct {
	at time.Duration
	do string
}

func TestPanelFlows(t *testing.T) {
	login := []step{{0, "s:LKB:" + testBadge}, {time.Second, "k:" + testPIN + "#"}}
	seq := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name    string
		station fakeOpts
		cfg     Config
		steps   []step
		calls   []string
		prompt  Prompt
		mode    Mode
	}{
		{name: "code, phone digits, enter", steps: []step{{0, "k:" + testCode + "#" + testPhone + "#"}},
			calls: []string{"EnterCode " + testCode + " " + testPhone}, prompt: PromptDoorsOpen, mode: ModeIdle},
		{name: "code then the phone prompt", steps: []step{{0, "k:" + testCode + "#"}},
			prompt: PromptPhone, mode: ModePhone},
		{name: "wrong code", steps: []step{{0, "k:99999999#0000#"}},
			calls: []string{"EnterCode 99999999 0000"}, prompt: PromptWrongCode, mode: ModeIdle},
		{name: "wrong phone digits", steps: []step{{0, "k:" + testCode + "#0000#"}},
			calls: []string{"EnterCode " + testCode + " 0000"}, prompt: PromptWrongCode, mode: ModeIdle},
		{name: "too short a code has its own prompt", steps: []step{{0, "k:1234#" + testPhone + "#"}},
			calls: []string{"EnterCode 1234 " + testPhone}, prompt: PromptCodeFormat, mode: ModeIdle},
		{name: "star clears a partial code", steps: []step{{0, "k:9999*" + testCode + "#" + testPhone + "#"}},
			calls: []string{"EnterCode " + testCode + " " + testPhone}, prompt: PromptDoorsOpen, mode: ModeIdle},
		{name: "star clears the phone entry", steps: []step{{0, "k:" + testCode + "#55*"}},
			prompt: PromptCleared, mode: ModeIdle},
		{name: "enter with nothing typed does nothing", steps: []step{{0, "k:#"}}, prompt: PromptWelcome, mode: ModeIdle},
		{name: "digits beyond the maximum are ignored", steps: []step{{0, "k:12345678901234567890#1234#"}},
			calls: []string{"EnterCode 123456789012 1234"}, prompt: PromptWrongCode, mode: ModeIdle},
		{name: "pickup QR", steps: []step{{0, "s:LKQ:" + testQR}},
			calls: []string{"EnterQR " + testQR}, prompt: PromptDoorsOpen, mode: ModeIdle},
		{name: "legacy pickup-code QR", steps: []step{{0, "s:LKC:" + testCode}},
			calls: []string{"EnterCode " + testCode + " "}, prompt: PromptWrongCode, mode: ModeIdle},
		{name: "partial code times out", steps: []step{{0, "k:1234"}, {11 * time.Second, "t"}},
			prompt: PromptTimedOut, mode: ModeIdle},
		{name: "phone entry times out", steps: []step{{0, "k:" + testCode + "#55"}, {11 * time.Second, "t"}},
			prompt: PromptTimedOut, mode: ModeIdle},
		{name: "typing after a timeout starts afresh", steps: []step{{0, "k:1234"}, {11 * time.Second, "k:" + testCode + "#" + testPhone + "#"}},
			calls: []string{"EnterCode " + testCode + " " + testPhone}, prompt: PromptDoorsOpen, mode: ModeIdle},
		{name: "courier login with badge and PIN", steps: login,
			calls: []string{"Login " + testBadge + " " + testPIN}, prompt: PromptSessionOpen, mode: ModeSession},
		{name: "scan during PIN entry is ignored", steps: []step{{0, "s:LKB:" + testBadge}, {0, "s:" + testTracking}},
			prompt: PromptEnterPIN, mode: ModePIN},
		{name: "star drops the badge", steps: []step{{0, "s:LKB:" + testBadge}, {0, "k:24*"}, {0, "k:" + testPIN + "#"}},
			prompt: PromptPhone, mode: ModePhone},
		{name: "PIN entry times out", steps: []step{{0, "s:LKB:" + testBadge}, {0, "k:24"}, {11 * time.Second, "t"}},
			prompt: PromptTimedOut, mode: ModeIdle},
		{name: "unannounced parcel asks for a size", steps: seq(login, []step{{2 * time.Second, "s:" + testTracking}}),
			calls:  []string{"Login " + testBadge + " " + testPIN, "Scan sid-1 " + testTracking + " size(0)"},
			prompt: PromptChooseSize, mode: ModeSession},
		{name: "size key before the scan", steps: seq(login, []step{{2 * time.Second, "k:2"}, {3 * time.Second, "s:" + testTracking}}),
			calls:  []string{"Login " + testBadge + " " + testPIN, "Scan sid-1 " + testTracking + " M"},
			prompt: PromptDeposit, mode: ModeSession},
		{name: "default size from config, star restores it", cfg: Config{DefaultSize: locker.SizeL},
			steps:  seq(login, []step{{2 * time.Second, "k:4*"}, {3 * time.Second, "s:" + testTracking}}),
			calls:  []string{"Login " + testBadge + " " + testPIN, "Scan sid-1 " + testTracking + " L"},
			prompt: PromptDeposit, mode: ModeSession},
		{name: "enter ends the session", steps: seq(login, []step{{2 * time.Second, "k:#"}}),
			calls: []string{"Login " + testBadge + " " + testPIN, "Logout sid-1"}, prompt: PromptSessionClosed, mode: ModeIdle},
		{name: "idle ends the session", steps: seq(login, []step{{62 * time.Second, "t"}}),
			calls: []string{"Login " + testBadge + " " + testPIN, "Logout sid-1"}, prompt: PromptSessionEnded, mode: ModeIdle},
		{name: "a scan after the idle end is no deposit", steps: seq(login, []step{{62 * time.Second, "s:" + testTracking}}),
			calls:  []string{"Login " + testBadge + " " + testPIN, "Logout sid-1", "Handover [] " + testTracking},
			prompt: PromptLoginFirst, mode: ModeIdle},
		{name: "session kept alive by activity", steps: seq(login, []step{{50 * time.Second, "k:1"}, {100 * time.Second, "t"}}),
			calls: []string{"Login " + testBadge + " " + testPIN}, prompt: PromptSize, mode: ModeSession},
		{name: "station dropped the session", station: fakeOpts{scanErr: locker.ErrNotLoggedIn},
			steps:  seq(login, []step{{2 * time.Second, "s:" + testTracking}}),
			calls:  []string{"Login " + testBadge + " " + testPIN, "Scan sid-1 " + testTracking + " size(0)"},
			prompt: PromptSessionEnded, mode: ModeIdle},
		{name: "not a tracking number", station: fakeOpts{scanErr: fmt.Errorf("locker: scan refused: %w", waybill.ErrCheckDigit)},
			steps:  seq(login, []step{{2 * time.Second, "s:RB123456784GB"}}),
			calls:  []string{"Login " + testBadge + " " + testPIN, "Scan sid-1 RB123456784GB size(0)"},
			prompt: PromptBadScan, mode: ModeSession},
		{name: "pickup QR during a session is refused", steps: seq(login, []step{{2 * time.Second, "s:LKQ:" + testQR}}),
			calls: []string{"Login " + testBadge + " " + testPIN}, prompt: PromptFinishFirst, mode: ModeSession},
		{name: "another badge ends the session", steps: seq(login, []step{{2 * time.Second, "s:LKB:OTHER"}}),
			calls: []string{"Login " + testBadge + " " + testPIN, "Logout sid-1"}, prompt: PromptEnterPIN, mode: ModePIN},
		{name: "undo and retrieve", steps: seq(login, []step{{2 * time.Second, "k:0"}, {3 * time.Second, "k:9"}}),
			calls:  []string{"Login " + testBadge + " " + testPIN, "Cancel sid-1", "Retrieve sid-1"},
			prompt: PromptNothing, mode: ModeSession},
		{name: "wrong PIN", steps: []step{{0, "s:LKB:" + testBadge}, {0, "k:1111#"}},
			calls: []string{"Login " + testBadge + " 1111"}, prompt: PromptBadBadge, mode: ModeIdle},
		{name: "wrong PIN throttled", station: fakeOpts{throttleN: 2},
			steps: []step{
				{0, "s:LKB:" + testBadge}, {0, "k:1111#"},
				{time.Second, "s:LKB:" + testBadge}, {time.Second, "k:2222#"}, // locked for 30 s
				{10 * time.Second, "s:LKB:" + testBadge}, {10 * time.Second, "k:" + testPIN + "#"}, // refused by the panel
			},
			calls: []string{"Login " + testBadge + " 1111", "Login " + testBadge + " 2222"}, prompt: PromptLocked, mode: ModeIdle},
		{name: "login allowed again after the lock", station: fakeOpts{throttleN: 2},
			steps: []step{
				{0, "s:LKB:" + testBadge}, {0, "k:1111#"},
				{time.Second, "s:LKB:" + testBadge}, {time.Second, "k:2222#"},
				{32 * time.Second, "s:LKB:" + testBadge}, {32 * time.Second, "k:" + testPIN + "#"},
			},
			calls:  []string{"Login " + testBadge + " 1111", "Login " + testBadge + " 2222", "Login " + testBadge + " " + testPIN},
			prompt: PromptSessionOpen, mode: ModeSession},
		{name: "no local lock-out for codes", station: fakeOpts{throttleN: 1},
			steps:  []step{{0, "k:11111111#0000#"}, {time.Second, "k:" + testCode + "#" + testPhone + "#"}},
			calls:  []string{"EnterCode 11111111 0000", "EnterCode " + testCode + " " + testPhone},
			prompt: PromptDoorsOpen, mode: ModeIdle},
		{name: "a legacy lock-out is shown, not kept", station: fakeOpts{throttleN: 1},
			steps:  []step{{0, "s:LKC:11111111"}, {time.Second, "s:LKQ:" + testQR}},
			calls:  []string{"EnterCode 11111111 ", "EnterQR " + testQR},
			prompt: PromptDoorsOpen, mode: ModeIdle},
		{name: "parcel scan without a session", steps: []step{{0, "s:" + testTracking}},
			calls: []string{"Handover [] " + testTracking}, prompt: PromptLoginFirst, mode: ModeIdle},
		{name: "staffed handover", station: fakeOpts{staffed: true}, steps: []step{{0, "k:" + testCode + "#" + testPhone + "#"}, {time.Second, "s:" + testTracking}},
			calls: []string{"EnterCode " + testCode + " " + testPhone, "Handover [h-1] " + testTracking}, prompt: PromptHandedOver, mode: ModeIdle},
		{name: "staffed scan before any code", station: fakeOpts{staffed: true}, steps: []step{{0, "s:" + testTracking}},
			calls: []string{"Handover [] " + testTracking}, prompt: PromptLoginFirst, mode: ModeIdle},
		{name: "empty badge", steps: []step{{0, "s:LKB:"}}, prompt: PromptBadScan, mode: ModeIdle},
		{name: "more time keeps a partial code", steps: []step{{0, "k:7391"}, {8 * time.Second, "k:C"}, {16 * time.Second, "k:4682#" + testPhone + "#"}},
			calls: []string{"EnterCode " + testCode + " " + testPhone}, prompt: PromptDoorsOpen, mode: ModeIdle},
		{name: "more time shows the screen again", steps: []step{{0, "k:7391"}, {8 * time.Second, "k:C"}},
			prompt: PromptTyping, mode: ModeCode},
		{name: "more time keeps a session", steps: seq(login, []step{{50 * time.Second, "k:C"}, {100 * time.Second, "t"}}),
			calls: []string{"Login " + testBadge + " " + testPIN}, prompt: PromptSessionOpen, mode: ModeSession},
		{name: "more time with nothing running does nothing", steps: []step{{0, "k:C"}}, prompt: PromptWelcome, mode: ModeIdle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logBuf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{} // timestamps could contain a short secret by chance
					}
					return a
				}}))
			disp := &screens{}
			st := &fakeStation{fakeOpts: tt.station}
			p := New(st, tt.cfg, disp, log)
			p.show(PromptWelcome)
			t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
			ctx := context.Background()
			for _, s := range tt.steps {
				now := t0.Add(s.at)
				switch {
				case strings.HasPrefix(s.do, "k:"):
					for _, k := range []byte(s.do[2:]) {
						p.handle(ctx, now, Input{Source: "pad", Key: keypad.Key(k)})
					}
				case strings.HasPrefix(s.do, "s:"):
					p.handle(ctx, now, Input{Source: "front", Scan: []byte(s.do[2:])})
				default:
					p.expire(now)
				}
			}
			if got := st.Calls(); strings.Join(got, "|") != strings.Join(tt.calls, "|") {
				t.Errorf("calls\n got %q\nwant %q", got, tt.calls)
			}
			if last := disp.last(); last.Prompt != tt.prompt || last.Mode != tt.mode {
				t.Errorf("last screen %+v, want prompt %s in mode %s", last, tt.prompt, tt.mode)
			}
			shown := fmt.Sprintf("%+v", disp.all)
			for _, secret := range []string{testCode, testBadge, testPIN, testTracking, testPhone, testQR, "11111111", "1111", "2222"} {
				if strings.Contains(logBuf.String(), secret) || strings.Contains(shown, secret) {
					t.Errorf("%q leaked:\nlog: %s\nscreens: %s", secret, logBuf.String(), shown)
				}
			}
		})
	}
}

// TestPanelRun drives the real loop in a synctest bubble: its timers fire on the fake
// clock, and synctest.Wait awaits the panel instead of sleeping.
func TestPanelRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &fakeStation{}
		disp := &screens{}
		p := New(st, Config{Idle: 30 * time.Second}, disp, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		typeKeys := func(keys string) {
			for _, k := range []byte(keys) {
				p.Input(Input{Key: keypad.Key(k)})
			}
		}
		expect := func(what string, prompt Prompt, mode Mode, calls ...string) {
			t.Helper()
			synctest.Wait()
			if last := disp.last(); last.Prompt != prompt || last.Mode != mode {
				t.Fatalf("%s: screen %+v, want %s in mode %s", what, last, prompt, mode)
			}
			if got := st.Calls(); strings.Join(got, "|") != strings.Join(calls, "|") {
				t.Fatalf("%s: calls %q, want %q", what, got, calls)
			}
		}
		expect("start", PromptWelcome, ModeIdle)
		typeKeys("12")
		expect("typing", PromptTyping, ModeCode)
		time.Sleep(DefaultEntryTimeout)
		expect("entry timeout", PromptTimedOut, ModeIdle)

		loginCall := "Login " + testBadge + " " + testPIN
		p.Input(Input{Scan: []byte("LKB:" + testBadge)})
		typeKeys(testPIN + "#")
		expect("login", PromptSessionOpen, ModeSession, loginCall)
		time.Sleep(29 * time.Second)
		typeKeys("3")
		expect("activity", PromptSize, ModeSession, loginCall)
		time.Sleep(30 * time.Second)
		expect("idle", PromptSessionEnded, ModeIdle, loginCall, "Logout sid-1")

		p.Input(Input{Scan: []byte("LKB:" + testBadge)})
		typeKeys(testPIN + "#")
		expect("login again", PromptSessionOpen, ModeSession, loginCall, "Logout sid-1", loginCall)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if calls := st.Calls(); calls[len(calls)-1] != "Logout sid-2" {
			t.Fatalf("shutdown left the session open: %q", calls)
		}
	})
}

func TestPanelInputNeverBlocks(t *testing.T) {
	p := New(&fakeStation{}, Config{}, &screens{}, slog.New(slog.DiscardHandler))
	var scans [][]byte
	for range 40 {
		s := []byte(testTracking)
		scans = append(scans, s)
		p.Input(Input{Scan: s})
	}
	if p.Dropped() != 8 {
		t.Fatalf("dropped %d, want 8", p.Dropped())
	}
	if !bytes.Equal(scans[39], make([]byte, len(testTracking))) {
		t.Fatalf("a dropped scan was not wiped: %q", scans[39])
	}
}
