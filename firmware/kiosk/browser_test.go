package kiosk

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/internal/testenv"
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

// browser starts Debian's chromium headless with a fresh profile, the flags the
// kiosk's tests promise (no sandbox, no GPU, no background traffic), and a screen of
// w x h CSS pixels.
func browser(t testing.TB, w, h int) context.Context {
	t.Helper()
	path := testenv.LookPath(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
	}
	actx, cancelA := chromedp.NewExecAllocator(testenv.Context(t, 3*time.Minute), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return ctx
}

// do runs chromedp steps, bounded, and fails the test on an error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(cctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// get runs one chromedp action that returns a value, bounded.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(cctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitPrompt waits until the page shows prompt.
func waitPrompt(prompt string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`main[data-prompt=%q]`, prompt)))
}

// press clicks the on-screen keys of keys, one by one.
func press(keys string) chromedp.Action[chromedp.Void] {
	var steps []chromedp.Action[chromedp.Void]
	for _, k := range keys {
		steps = append(steps, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#pad button[data-key=%q]`, string(k))), chromedp.NodeVisible))
	}
	return chromedp.Steps(steps...)
}

// text is the text of the element with id.
func text(id string) chromedp.Action[string] { return chromedp.Text(chromedp.ID(id)) }

// artifact is where screenshots go: $KIOSK_ARTIFACTS, or the test's temp dir.
func artifact(t *testing.T, name string) string {
	dir := os.Getenv("KIOSK_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "lockerd-kiosk-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// TestBrowserPickup: a recipient types the code and phone digits on the screen's keys
// and sees the door open on the locker's map; a wrong code is said so.
func TestBrowserPickup(t *testing.T) {
	r := newRig(t, Config{}, nil)
	ctx := browser(t, 800, 480)
	do(t, ctx, "welcome", chromedp.Navigate(r.url), waitPrompt("welcome"))
	if title := get(t, ctx, "title", text("title")); title != "Welcome" {
		t.Fatalf("title %q", title)
	}
	do(t, ctx, "wrong code", press("11111111#0000#"), waitPrompt("wrong_code"))
	if title := get(t, ctx, "title", text("title")); title != "Code not recognised" {
		t.Fatalf("wrong code title %q", title)
	}
	do(t, ctx, "typing", press(testCode[:3]), chromedp.WaitVisible(chromedp.CSS(`main[data-prompt="typing"][data-digits="3"]`)))
	if dots := get(t, ctx, "dots", text("dots")); dots != "●●●" {
		t.Fatalf("dots %q", dots)
	}
	do(t, ctx, "code", press(testCode[3:]+"#"), waitPrompt("phone"))
	do(t, ctx, "phone", press(testPhone+"#"), waitPrompt("doors_open"))
	title, detail := get(t, ctx, "title", text("title")), get(t, ctx, "detail", text("detail"))
	if title != "Door A2 is open" || !strings.Contains(detail, "close the door") {
		t.Fatalf("doors open: %q / %q", title, detail)
	}
	if open := get(t, ctx, "map", chromedp.Text(chromedp.CSS(`#map li.open`))); !strings.Contains(open, "A2") {
		t.Fatalf("open door on the map: %q", open)
	}
	page := get(t, ctx, "page", chromedp.OuterHTML(chromedp.CSS("html")))
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
	ctx := browser(t, 800, 480)
	do(t, ctx, "welcome", chromedp.Navigate(r.url), waitPrompt("welcome"))
	r.scan("LKB:" + testBadge)
	do(t, ctx, "pin", waitPrompt("enter_pin"), press(testPIN+"#"), waitPrompt("session_open"),
		chromedp.WaitVisible(chromedp.ID("courier")))
	r.scan(testParcel)
	do(t, ctx, "size", waitPrompt("choose_size"), chromedp.Click(chromedp.ID("size2"), chromedp.NodeVisible), waitPrompt("size"))
	r.scan(testParcel)
	do(t, ctx, "deposit", waitPrompt("deposit"))
	if title := get(t, ctx, "title", text("title")); title != "Door B3 is open" {
		t.Fatalf("deposit title %q", title)
	}
	shot := get(t, ctx, "screenshot", chromedp.CaptureScreenshot())
	if err := os.WriteFile(artifact(t, "courier-deposit-en.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "retrieve", chromedp.Click(chromedp.ID("retrieve"), chromedp.NodeVisible), waitPrompt("doors_open"))
	if title := get(t, ctx, "title", text("title")); title != "Doors A1 and B1 are open" {
		t.Fatalf("retrieve title %q", title)
	}
	do(t, ctx, "done", chromedp.Click(chromedp.ID("done"), chromedp.NodeVisible), waitPrompt("session_closed"),
		chromedp.WaitVisible(chromedp.ID("pad")))
	if r.st.deposits != 1 {
		t.Fatalf("%d deposits", r.st.deposits)
	}
}
