package kiosk

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lockerd/lockerd/firmware/kiosk/kiosktest"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/locker"
)

// Secrets of the browser tests: none may reach a page.
const (
	testCode   = "73914682"
	testPhone  = "5501"
	testBadge  = "BADGE-7F3A"
	testPIN    = "2468"
	testParcel = "RB123456785GB"
)

// station is a small panel.Station for the kiosk's tests: one parcel behind door
// A2 under testCode and testPhone, one courier, a lock-out after three wrong codes.
type station struct {
	mu       sync.Mutex
	failures int
	lockFor  time.Duration
	deposits int
	shelf    bool
}

var _ panel.Station = (*station)(nil)

func (s *station) EnterCode(_ context.Context, code, last4 string) (locker.Pickup, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(code) < 8 {
		return locker.Pickup{}, locker.ErrCodeFormat
	}
	if code == testCode && last4 == testPhone {
		s.failures = 0
		if s.shelf {
			return locker.Pickup{Slots: []locker.Slot{{Compartment: 9, Label: "K3", Kind: locker.KindShelf}}, Handover: "h-1"}, nil
		}
		return locker.Pickup{Slots: []locker.Slot{{Compartment: 2, Label: "A2"}}}, nil
	}
	s.failures++
	if s.failures >= 3 {
		return locker.Pickup{}, &locker.ThrottledError{RetryAfter: s.lockFor}
	}
	return locker.Pickup{}, locker.ErrWrongCode
}

func (s *station) EnterQR(context.Context, string) (locker.Pickup, error) {
	return locker.Pickup{}, locker.ErrWrongCode
}

func (s *station) Login(_ context.Context, badge, pin string) (string, error) {
	if badge != testBadge || pin != testPIN {
		return "", locker.ErrBadCredentials
	}
	return "sid-1", nil
}

func (s *station) Logout(string) {}

func (s *station) Scan(_ context.Context, _, raw string, size locker.Size) (locker.Slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if raw != testParcel {
		return locker.Slot{}, locker.ErrAlreadyHere
	}
	if size == locker.SizeUnknown {
		return locker.Slot{}, locker.ErrSizeRequired
	}
	s.deposits++
	return locker.Slot{Compartment: 7, Label: "B3"}, nil
}

func (s *station) Cancel(context.Context, string) error { return nil }

func (s *station) Retrieve(context.Context, string) ([]locker.Slot, error) {
	return []locker.Slot{{Compartment: 1, Label: "A1"}, {Compartment: 4, Label: "B1"}}, nil
}

func (s *station) Handover(_ context.Context, id, raw string) (locker.Slot, error) {
	if id != "h-1" {
		return locker.Slot{}, locker.ErrNoHandover
	}
	if raw != testParcel {
		return locker.Slot{}, locker.ErrWrongParcel
	}
	return locker.Slot{Compartment: 9, Label: "K3", Kind: locker.KindShelf}, nil
}

// rig is a kiosk in front of a real panel and a fake station, served on loopback.
type rig struct {
	k     *Kiosk
	p     *panel.Panel
	st    *station
	url   string
	shown chan panel.Screen
}

// tap is a Display that passes screens to the kiosk and tells the test.
type tap struct {
	k  *Kiosk
	ch chan panel.Screen
}

func (d tap) Show(s panel.Screen) {
	d.k.Show(s)
	select {
	case d.ch <- s:
	default:
	}
}

func newRig(t *testing.T, cfg Config, st *station) *rig {
	t.Helper()
	if st == nil {
		st = &station{lockFor: 45 * time.Second}
	}
	if cfg.EntryTimeout == 0 {
		cfg.EntryTimeout = 40 * time.Second // as lockerd sets it with a kiosk
	}
	if cfg.Doors == nil {
		cfg.Doors = Layout([]string{"A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "C3"})
	}
	k := New(cfg)
	r := &rig{k: k, st: st, shown: make(chan panel.Screen, 64)}
	r.p = panel.New(st, panel.Config{EntryTimeout: cfg.EntryTimeout, Idle: cfg.Idle}, tap{k, r.shown}, slog.New(slog.DiscardHandler))
	k.SetInput(r.p.Input)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.p.Run(ctx) }() //nolint:errcheck // Run returns nil
	t.Cleanup(func() { cancel(); <-done })
	r.url = serve(t, k) + "/"
	return r
}

// scan shows the scanner a code, as the scanner driver would.
func (r *rig) scan(code string) { r.p.Input(panel.Input{Source: "scanner", Scan: []byte(code)}) }

// TestBrowserPickup: a recipient types the code and phone digits on the screen's keys
// and sees the door open on the locker's map; a wrong code is said so.
func TestBrowserPickup(t *testing.T) {
	r := newRig(t, Config{}, nil)
	ctx := kiosktest.Browser(t, 800, 480)
	kiosktest.Do(t, ctx, "welcome", chromedp.Navigate(r.url), kiosktest.WaitPrompt("welcome"))
	if title := kiosktest.Get(t, ctx, "title", kiosktest.Text("title")); title != "Welcome" {
		t.Fatalf("title %q", title)
	}
	kiosktest.Do(t, ctx, "wrong code", kiosktest.Press("11111111#0000#"), kiosktest.WaitPrompt("wrong_code"))
	if title := kiosktest.Get(t, ctx, "title", kiosktest.Text("title")); title != "Code not recognised" {
		t.Fatalf("wrong code title %q", title)
	}
	kiosktest.Do(t, ctx, "typing", kiosktest.Press(testCode[:3]), chromedp.WaitVisible(chromedp.CSS(`main[data-prompt="typing"][data-digits="3"]`)))
	if dots := kiosktest.Get(t, ctx, "dots", kiosktest.Text("dots")); dots != "●●●" {
		t.Fatalf("dots %q", dots)
	}
	kiosktest.Do(t, ctx, "code", kiosktest.Press(testCode[3:]+"#"), kiosktest.WaitPrompt("phone"))
	kiosktest.Do(t, ctx, "phone", kiosktest.Press(testPhone+"#"), kiosktest.WaitPrompt("doors_open"))
	title, detail := kiosktest.Get(t, ctx, "title", kiosktest.Text("title")), kiosktest.Get(t, ctx, "detail", kiosktest.Text("detail"))
	if title != "Door A2 is open" || !strings.Contains(detail, "close the door") {
		t.Fatalf("doors open: %q / %q", title, detail)
	}
	if open := kiosktest.Get(t, ctx, "map", chromedp.Text(chromedp.CSS(`#map li.open`))); !strings.Contains(open, "A2") {
		t.Fatalf("open door on the map: %q", open)
	}
	page := kiosktest.Get(t, ctx, "page", chromedp.OuterHTML(chromedp.CSS("html")))
	for _, secret := range []string{testCode, testPhone} {
		if strings.Contains(page, secret) {
			t.Fatalf("the page shows %q", secret)
		}
	}
}

// TestBrowserCourier: a courier shows the badge, types the PIN on the screen, chooses a
// size on the screen's courier keys for an unannounced parcel, deposits it, retrieves
// expired parcels and ends the session.
func TestBrowserCourier(t *testing.T) {
	r := newRig(t, Config{}, nil)
	ctx := kiosktest.Browser(t, 800, 480)
	kiosktest.Do(t, ctx, "welcome", chromedp.Navigate(r.url), kiosktest.WaitPrompt("welcome"))
	r.scan("LKB:" + testBadge)
	kiosktest.Do(t, ctx, "pin", kiosktest.WaitPrompt("enter_pin"), kiosktest.Press(testPIN+"#"), kiosktest.WaitPrompt("session_open"),
		chromedp.WaitVisible(chromedp.ID("courier")))
	r.scan(testParcel)
	kiosktest.Do(t, ctx, "size", kiosktest.WaitPrompt("choose_size"), chromedp.Click(chromedp.ID("size2"), chromedp.NodeVisible), kiosktest.WaitPrompt("size"))
	r.scan(testParcel)
	kiosktest.Do(t, ctx, "deposit", kiosktest.WaitPrompt("deposit"))
	if title := kiosktest.Get(t, ctx, "title", kiosktest.Text("title")); title != "Door B3 is open" {
		t.Fatalf("deposit title %q", title)
	}
	kiosktest.Screenshot(t, ctx, "courier-deposit-en")
	kiosktest.Do(t, ctx, "retrieve", chromedp.Click(chromedp.ID("retrieve"), chromedp.NodeVisible), kiosktest.WaitPrompt("doors_open"))
	if title := kiosktest.Get(t, ctx, "title", kiosktest.Text("title")); title != "Doors A1 and B1 are open" {
		t.Fatalf("retrieve title %q", title)
	}
	kiosktest.Do(t, ctx, "done", chromedp.Click(chromedp.ID("done"), chromedp.NodeVisible), kiosktest.WaitPrompt("session_closed"),
		chromedp.WaitVisible(chromedp.ID("pad")))
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	if r.st.deposits != 1 {
		t.Fatalf("%d deposits", r.st.deposits)
	}
}

// countingSpeaker is a Speaker that counts its renderings and returns a short WAV.
type countingSpeaker struct{ n chan string }

func (c countingSpeaker) Speak(_ context.Context, voice, text string) ([]byte, error) {
	c.n <- voice
	wav := []byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x22\x56\x00\x00\x44\xac\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00")
	return wav, nil
}

// TestBrowserTimeAndSpeech: the page warns before a partial entry runs out and "More
// time" gives it its time again; the keypad's read-aloud key makes the page fetch
// and play the prompt; the focused control is visibly outlined.
func TestBrowserTimeAndSpeech(t *testing.T) {
	spoken := make(chan string, 8)
	r := newRig(t, Config{EntryTimeout: 6 * time.Second, Speech: countingSpeaker{spoken}}, nil)
	ctx := kiosktest.Browser(t, 800, 480)
	kiosktest.Do(t, ctx, "welcome", chromedp.Navigate(r.url), kiosktest.WaitPrompt("welcome"))
	kiosktest.Do(t, ctx, "typing", kiosktest.Press("73"), kiosktest.WaitPrompt("typing"),
		chromedp.WaitVisible(chromedp.CSS(`#warn:not([hidden])`))) // 3 s before the end
	kiosktest.Do(t, ctx, "more time", chromedp.Click(chromedp.ID("more"), chromedp.NodeVisible),
		chromedp.WaitNotVisible(chromedp.ID("warn")))
	if prompt := kiosktest.Get(t, ctx, "prompt", chromedp.Evaluate[string](`document.getElementById("main").dataset.prompt`)); prompt != "typing" {
		t.Fatalf("after more time: %s", prompt)
	}
	// Past the first limit (6 s from the last key), the two digits are still there.
	kiosktest.Do(t, ctx, "entry kept", chromedp.Sleep(3500*time.Millisecond), kiosktest.Press("9"),
		chromedp.WaitVisible(chromedp.CSS(`main[data-prompt="typing"][data-digits="3"]`)))

	r.k.HardwareKey(KeySpeak)
	select {
	case voice := <-spoken:
		if voice != "en" {
			t.Fatalf("spoken with voice %q", voice)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the keypad's read-aloud key did not make the page fetch the speech")
	}
	src := kiosktest.Get(t, ctx, "audio src", chromedp.Evaluate[string](`document.getElementById("audio").getAttribute("src")`))
	if !strings.HasPrefix(src, "/speech.wav?seq=") {
		t.Fatalf("audio src %q", src)
	}

	kiosktest.Do(t, ctx, "tab", chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"))
	ring := kiosktest.Get(t, ctx, "focus ring", chromedp.Evaluate[string](`(() => { const e = document.activeElement, s = getComputedStyle(e);
	  return e.tagName + " " + s.outlineStyle + " " + parseFloat(s.outlineWidth); })()`))
	if f := strings.Fields(ring); len(f) != 3 || f[0] != "BUTTON" || f[1] == "none" || f[2] < "3" {
		t.Fatalf("focused control: %q, want a button with an outline of 3 px or more", ring)
	}
}
