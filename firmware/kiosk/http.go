package kiosk

import (
	"embed"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/locker"
)

//go:embed assets
var assets embed.FS

// ScreenKeys are the keys a page may send (POST /key): the keypad's digits, clear,
// enter and more time. Nothing else reaches the panel from the screen: no scan, so
// no badge, pickup QR or tracking number, and no call of the station's own.
const ScreenKeys = "0123456789*#C"

// maxBody bounds a request body: {"key":"#"} or {"lang":"zh-Hans"}.
const maxBody = 64

// Handler is the kiosk's HTTP handler: the page and its assets, the event stream,
// the state, the speech, and the two things a person at the screen may do (type a
// key, switch the language). Everything else is 404. Every request must name the
// kiosk's own address as Host and, from a browser, come from the kiosk's own origin.
func (k *Kiosk) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", k.asset("assets/index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /app.js", k.asset("assets/app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /app.css", k.asset("assets/app.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /events", k.events)
	mux.HandleFunc("GET /state", k.state)
	mux.HandleFunc("GET /speech.wav", k.speech)
	mux.HandleFunc("POST /key", k.key)
	mux.HandleFunc("POST /lang", k.setLang)
	return k.guard(mux)
}

// guard refuses requests that do not come from the kiosk's own page: a Host other
// than the kiosk's address (DNS rebinding), an Origin other than its own, a
// cross-site fetch. It answers no CORS preflight and sets no CORS header, so another
// origin's script can neither read nor, with a JSON body, send.
func (k *Kiosk) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if reason := k.refuse(r); reason != "" {
			k.log.Warn("kiosk: request refused", "reason", reason, "method", r.Method, "path", r.URL.Path)
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuse says why a request is not the kiosk page's own, or "" when it is.
func (k *Kiosk) refuse(r *http.Request) string {
	k.mu.Lock()
	hosts := k.hosts
	k.mu.Unlock()
	if !hosts[strings.ToLower(r.Host)] {
		return "host"
	}
	if o := r.Header.Get("Origin"); o != "" && (!strings.HasPrefix(o, "http://") || !hosts[strings.ToLower(strings.TrimPrefix(o, "http://"))]) {
		return "origin"
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return "cross-site"
	}
	if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return "content-type"
	}
	return ""
}

// allowedHosts are the Host headers that name addr: its IP and port, and
// localhost:port for a loopback address.
func allowedHosts(addr net.Addr) map[string]bool {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return map[string]bool{strings.ToLower(addr.String()): true}
	}
	port := strconv.Itoa(int(ap.Port()))
	m := map[string]bool{strings.ToLower(ap.String()): true}
	if ap.Addr().IsLoopback() {
		m["localhost:"+port] = true
	}
	return m
}

func (k *Kiosk) asset(name, ctype string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := assets.ReadFile(name)
		if err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Write(b) //nolint:errcheck // the page reloads
	}
}

// events streams the view as Server-Sent Events: the current one at once (a page
// that reconnects recovers the screen), then every change.
func (k *Kiosk) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, cancel := k.subscribe()
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, seen := k.current(time.Now(), ^uint64(0))
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	send := true
	for {
		if send {
			var v view
			v, seen = k.current(time.Now(), seen)
			b, err := json.Marshal(v)
			if err != nil {
				return
			}
			if _, err := io.WriteString(w, "retry: 500\ndata: "+string(b)+"\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-ch:
			send = true
		case <-ping.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil {
				return
			}
			fl.Flush()
			send = false
		}
	}
}

// state answers the current view once, for pages without a stream and for tools.
func (k *Kiosk) state(w http.ResponseWriter, r *http.Request) {
	v, _ := k.current(time.Now(), ^uint64(0))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the page asks again
}

// key passes a key typed on the screen to the panel, as the keypad would.
func (k *Kiosk) key(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Key string `json:"key"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	key, ok := ParseScreenKey(req.Key)
	if !ok {
		http.Error(w, "not a key", http.StatusBadRequest)
		return
	}
	in := k.input.Load()
	if in == nil {
		http.Error(w, "no panel", http.StatusServiceUnavailable)
		return
	}
	(*in)(panel.Input{Source: "kiosk", Key: key})
	w.WriteHeader(http.StatusNoContent)
}

// ParseScreenKey returns the key a page sent, if it is one of ScreenKeys.
func ParseScreenKey(s string) (keypad.Key, bool) {
	if len(s) != 1 || !strings.Contains(ScreenKeys, s) {
		return 0, false
	}
	return keypad.Key(s[0]), true
}

// setLang switches the language: to the one named, or the next when none is.
func (k *Kiosk) setLang(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Lang string `json:"lang"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	var l Lang
	if req.Lang != "" {
		var ok bool
		if l, ok = ParseLang(req.Lang); !ok {
			http.Error(w, "not a language", http.StatusBadRequest)
			return
		}
	}
	k.SetLang(l)
	w.WriteHeader(http.StatusNoContent)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(b) > maxBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return false
	}
	return true
}

func cloneSlots(s []locker.Slot) []locker.Slot {
	if s == nil {
		return nil
	}
	return append([]locker.Slot(nil), s...)
}
