// Package kiosk is the locker's touch screen: a small web page, embedded in lockerd
// and served on loopback, that shows the front panel's state (firmware/panel's
// Screen) in Chinese or English, speaks each prompt with espeak-ng on request, and
// passes the keys typed on it to the panel exactly as the physical keypad would.
// Its endpoints have a keypad person's rights and no more: keys in, the screen out
// (docs/adr/0063-kiosk.md). It implements panel.Display.
package kiosk

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/firmware/panel"
)

// DefaultListen is the kiosk's address when the config names none.
const DefaultListen = "127.0.0.1:8080"

// Keys the kiosk handles itself (on 4x4 keypads; a 3x4 pad has the screen's buttons).
// The panel handles panel.KeyMoreTime.
const (
	KeySpeak keypad.Key = 'A' // read the current prompt aloud
	KeyLang  keypad.Key = 'B' // switch the language
)

// LangIdle is how long the kiosk keeps a language chosen on it with no new screen:
// then the next person meets the default language.
const LangIdle = 2 * time.Minute

// Config configures a kiosk.
type Config struct {
	// Language is the default language, shown at start and again after LangIdle.
	Language Lang
	// Doors is the locker's map (Layout).
	Doors []Door
	// EntryTimeout and Idle are the panel's limits (panel.Config), for the page's
	// warning before they run out.
	EntryTimeout, Idle time.Duration
	// Input receives the keys typed on the screen: the panel's Input (or SetInput).
	Input func(panel.Input)
	// Speech renders prompts as audio; nil: the page offers no speech.
	Speech Speaker
	// Log is the kiosk's log; nil: slog.Default().
	Log *slog.Logger
}

// Kiosk serves the screen. Show may be called from the panel's goroutine while
// Serve runs; it never blocks on a slow page.
type Kiosk struct {
	cfg Config
	log *slog.Logger
	tm  timing

	mu       sync.Mutex
	screen   panel.Screen
	shown    time.Time // when screen was shown
	lang     Lang
	langAt   time.Time // last screen or language change: LangIdle counts from here
	seq      uint64    // screens shown
	speakN   uint64    // read-aloud requests from the keypad
	subs     map[chan struct{}]struct{}
	hosts    map[string]bool // Host headers accepted; set by Serve
	speechMu sync.Mutex
	cache    speechCache
	input    atomic.Pointer[func(panel.Input)]
}

var _ panel.Display = (*Kiosk)(nil)

// New returns a kiosk showing the welcome screen until the panel shows another.
func New(cfg Config) *Kiosk {
	if _, ok := ParseLang(string(cfg.Language)); !ok {
		cfg.Language = English
	}
	if cfg.EntryTimeout <= 0 {
		cfg.EntryTimeout = panel.DefaultEntryTimeout
	}
	if cfg.Idle <= 0 {
		cfg.Idle = panel.DefaultPanelIdle
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	now := time.Now()
	k := &Kiosk{cfg: cfg, log: log, tm: timing{entry: cfg.EntryTimeout, idle: cfg.Idle},
		screen: panel.Screen{Mode: panel.ModeIdle, Prompt: panel.PromptWelcome}, shown: now,
		lang: cfg.Language, langAt: now, subs: map[chan struct{}]struct{}{}}
	if cfg.Input != nil {
		k.SetInput(cfg.Input)
	}
	return k
}

// SetInput sets where the keys typed on the screen go: the panel's Input.
func (k *Kiosk) SetInput(f func(panel.Input)) {
	if f == nil {
		k.input.Store(nil)
		return
	}
	k.input.Store(&f)
}

// Show implements panel.Display: the pages connected get the screen at once.
func (k *Kiosk) Show(s panel.Screen) {
	k.mu.Lock()
	s.Slots, s.Failed = cloneSlots(s.Slots), cloneSlots(s.Failed)
	k.screen, k.shown = s, time.Now()
	k.langAt = k.shown
	k.seq++
	k.mu.Unlock()
	k.notify()
}

// HardwareKey takes the keys of the physical keypad that are the kiosk's (read
// aloud, language) and reports whether it did; every other key goes to the panel.
func (k *Kiosk) HardwareKey(key keypad.Key) bool {
	switch key {
	case KeySpeak:
		k.mu.Lock()
		k.speakN++
		k.mu.Unlock()
		k.notify()
		return true
	case KeyLang:
		k.SetLang("")
		return true
	}
	return false
}

// SetLang switches the screen to l, or to the next language when l is empty.
func (k *Kiosk) SetLang(l Lang) {
	k.mu.Lock()
	if l == "" {
		l = k.lang.next()
	}
	k.lang, k.langAt = l, time.Now()
	k.mu.Unlock()
	k.notify()
}

// Lang is the language shown now.
func (k *Kiosk) Lang() Lang {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lang
}

// current renders the screen shown now; speakSeen is the read-aloud count the caller
// has seen, and the view asks the page to speak when there is a newer one.
func (k *Kiosk) current(now time.Time, speakSeen uint64) (view, uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v := render(k.screen, k.shown, now, k.lang, k.cfg.Doors, k.tm, k.seq, k.cfg.Speech != nil)
	v.Speak = k.speakN > speakSeen
	return v, k.speakN
}

func (k *Kiosk) subscribe() (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	k.mu.Lock()
	k.subs[ch] = struct{}{}
	k.mu.Unlock()
	return ch, func() {
		k.mu.Lock()
		delete(k.subs, ch)
		k.mu.Unlock()
	}
}

// notify wakes every page's stream; a page that has not yet taken the last wake-up
// gets the newest state when it does.
func (k *Kiosk) notify() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for ch := range k.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// tick refreshes countdowns once a second and returns the language to the default
// after LangIdle.
func (k *Kiosk) tick(now time.Time) {
	k.mu.Lock()
	counting := false
	if k.screen.RetryAfter > now.Sub(k.shown)-time.Second {
		counting = true
	}
	if v := render(k.screen, k.shown, now, k.lang, nil, k.tm, k.seq, false); v.TimeoutMS > 0 || v.RetryMS > 0 {
		counting = true
	}
	if k.lang != k.cfg.Language && now.Sub(k.langAt) >= LangIdle {
		k.lang, counting = k.cfg.Language, true
	}
	k.mu.Unlock()
	if counting {
		k.notify()
	}
}

// Serve serves the kiosk on ln until ctx ends. Only Host headers naming ln's address
// (by IP or as localhost) are served.
func (k *Kiosk) Serve(ctx context.Context, ln net.Listener) error {
	k.mu.Lock()
	k.hosts = allowedHosts(ln.Addr())
	k.mu.Unlock()
	srv := &http.Server{Handler: k.Handler(), ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				k.tick(now)
			}
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx) //nolint:errcheck // the streams end with ctx; Close below is the fallback
		srv.Close()
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
