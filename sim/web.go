package sim

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/fleet"
)

//go:embed web
var webFiles embed.FS

// WebOptions shape the simulator's front panel in the browser.
type WebOptions struct {
	Station *Station // a station with a panel (Station.HasPanel) and CU16 boards
	Cloud   *Cloud
	// Fleet, when set, is the simulated cloud's MQTT client: deliveries made from the
	// page go over the cloud link, as in Scenario.Fleet; otherwise through the control
	// socket's admin endpoints.
	Fleet  *fleet.Client
	Logger *slog.Logger
	// Out receives the cloud's narration of deliveries made from the page (the
	// scenario's "cloud:" lines); nil discards it.
	Out io.Writer
	// KioskURL is the locker's own screen, linked from the page when there is one
	// (also Web.SetKioskURL, once lockerd serves it).
	KioskURL string
}

// Web is the simulator's front panel in the browser: the station's compartments as a
// live grid, a virtual keypad and scanner that go through the real drivers (key
// presses on the fake matrix the keypad driver scans, scans written into the scanner's
// pty), the virtual person's door buttons, and the simulated cloud's text messages.
// It serves loopback only and checks Host and Origin; it has no CORS.
//
// Two event streams: /api/panel (the grid and the panel's screen: what the locker and
// its hardware show, never a code, PIN, badge token or tracking number) and /api/cloud
// (the cloud's messages to phones, which carry pickup codes and the courier's PIN: in
// a real fleet they are SMS, never on the locker).
type Web struct {
	o    WebOptions
	log  *slog.Logger
	ln   net.Listener
	srv  *http.Server
	keys *presser
	ctl  *control.Client // lockerd's control socket, for the grid's inventory

	panel  *hub // grid and screen
	cloud  *hub // messages and the courier's bag
	world  *world
	person person

	gridMu   sync.Mutex
	gridLast []byte
	kiosk    string // the locker's own screen, "" until known
	gridWake chan struct{}
}

// NewWeb listens on addr (default 127.0.0.1:0), which must be a loopback address.
func NewWeb(addr string, o WebOptions) (*Web, error) {
	if o.Station == nil || !o.Station.HasPanel() || o.Station.Boards == nil {
		return nil, errors.New("sim: the browser panel needs a station with boards, a scanner and a keypad")
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("sim: web address: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("sim: web address %s is not a loopback IP address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	w := &Web{o: o, log: o.Logger.With("unit", "sim-web"), ln: ln, panel: newHub(), cloud: newHub(),
		gridWake: make(chan struct{}, 1)}
	w.world = newWorld(w)
	w.keys = newPresser(o.Station.Keypad)
	w.ctl = o.Station.Client()
	w.installPerson()
	o.Station.Screens.Listen(w.showScreen)
	w.panel.replay = w.panelReplay
	w.cloud.replay = w.world.replay
	w.srv = &http.Server{Handler: w.guard(w.routes()), ReadHeaderTimeout: 5 * time.Second}
	return w, nil
}

// SetKioskURL links the locker's own screen from the page, on open pages too.
func (w *Web) SetKioskURL(url string) {
	w.gridMu.Lock()
	w.kiosk = url
	w.gridMu.Unlock()
	w.panel.publishRaw(w.info(), false)
}

func (w *Web) kioskURL() string {
	w.gridMu.Lock()
	defer w.gridMu.Unlock()
	if w.kiosk != "" {
		return w.kiosk
	}
	return w.o.KioskURL
}

// info is the page's first event: the station and the kiosk's address.
func (w *Web) info() sseEvent {
	return jsonEvent("info", struct {
		Station string `json:"station"`
		Kiosk   string `json:"kiosk,omitempty"`
	}{w.o.Station.ID, w.kioskURL()})
}

// URL is the page's address.
func (w *Web) URL() string { return "http://" + w.ln.Addr().String() + "/" }

// Serve serves the page until ctx ends.
func (w *Web) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer w.ctl.Close()
	w.srv.BaseContext = func(net.Listener) context.Context { return ctx }
	go w.pollGrid(ctx)
	go func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		_ = w.srv.Shutdown(sctx)
	}()
	err := w.srv.Serve(w.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return ctx.Err()
	}
	return err
}

// Observe is a locker Observer: door and parcel events refresh the grid at once, and
// the cloud texts the recipient of a parcel deposited from the page. It never blocks.
func (w *Web) Observe(ev locker.Event) {
	select {
	case w.gridWake <- struct{}{}:
	default:
	}
	w.world.observe(ev)
}

func (w *Web) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFiles, "web")
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /api/panel", w.panel.serve)
	mux.HandleFunc("GET /api/cloud", w.cloud.serve)
	mux.HandleFunc("POST /api/key", w.postKey)
	mux.HandleFunc("POST /api/scan", w.postScan)
	mux.HandleFunc("POST /api/door", w.postDoor)
	mux.HandleFunc("POST /api/person", w.postPerson)
	mux.HandleFunc("POST /api/cloud/deliver", w.world.postDeliver)
	mux.HandleFunc("POST /api/cloud/show", w.world.postShow)
	return mux
}

// guard refuses what a page on another origin, or a DNS-rebinding name, could send:
// a Host that is not this loopback address, an Origin that is not this page, a
// cross-site fetch, a POST that is not JSON (a form needs no preflight; JSON does, and
// nothing here answers one).
func (w *Web) guard(next http.Handler) http.Handler {
	_, port, _ := net.SplitHostPort(w.ln.Addr().String())
	hosts := map[string]bool{"127.0.0.1:" + port: true, "localhost:" + port: true, "[::1]:" + port: true}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("X-Content-Type-Options", "nosniff")
		rw.Header().Set("X-Frame-Options", "DENY")
		rw.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		rw.Header().Set("Cache-Control", "no-store")
		if !hosts[r.Host] {
			http.Error(rw, "sim: wrong host", http.StatusMisdirectedRequest)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !hosts[trimScheme(o)] {
			http.Error(rw, "sim: cross-origin request refused", http.StatusForbidden)
			return
		}
		if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
			http.Error(rw, "sim: cross-site request refused", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost && r.Header.Get("Content-Type") != "application/json" {
			http.Error(rw, "sim: JSON only", http.StatusUnsupportedMediaType)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			http.Error(rw, "sim: method not allowed", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// trimScheme turns an Origin into a Host, "" unless it is plain http.
func trimScheme(origin string) string {
	const p = "http://"
	if len(origin) <= len(p) || origin[:len(p)] != p {
		return ""
	}
	return origin[len(p):]
}

// decode reads a small JSON body into v, refusing unknown fields.
func decode(rw http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		http.Error(rw, "sim: bad request body", http.StatusBadRequest)
		return false
	}
	return true
}

func reply(rw http.ResponseWriter, err error) {
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	rw.WriteHeader(http.StatusNoContent)
}

func (w *Web) postKey(rw http.ResponseWriter, r *http.Request) {
	var req struct {
		Key string `json:"key"`
	}
	if !decode(rw, r, &req) {
		return
	}
	if len(req.Key) != 1 {
		reply(rw, errors.New("sim: one key at a time"))
		return
	}
	reply(rw, w.keys.press(r.Context(), keypad.Key(req.Key[0])))
}

// postScan writes what the person typed into the scanner's pty, as the scanner would
// send it after reading a barcode (with its CR suffix).
func (w *Web) postScan(rw http.ResponseWriter, r *http.Request) {
	var req struct {
		Text string `json:"text"`
	}
	if !decode(rw, r, &req) {
		return
	}
	if req.Text == "" || len(req.Text) > 256 {
		reply(rw, errors.New("sim: a scan is 1 to 256 characters"))
		return
	}
	reply(rw, w.o.Station.Scanner.Type(req.Text))
}

// screenView is the panel's screen as the page gets it: labels and counts, never a
// parcel's hint or id.
type screenView struct {
	Mode       string   `json:"mode"`
	Prompt     string   `json:"prompt"`
	Digits     int      `json:"digits,omitempty"`
	Size       string   `json:"size,omitempty"`
	Doors      []string `json:"doors,omitempty"`
	Failed     []string `json:"failed,omitempty"`
	RetryAfter int      `json:"retry_after,omitempty"` // seconds
	CodeLength int      `json:"code_length,omitempty"`
}

func viewScreen(sc panel.Screen) screenView {
	v := screenView{Mode: sc.Mode.String(), Prompt: string(sc.Prompt), Digits: sc.Digits,
		RetryAfter: int((sc.RetryAfter + time.Second - 1) / time.Second), CodeLength: sc.CodeLength}
	if sc.Size != locker.SizeUnknown {
		v.Size = sc.Size.String()
	}
	for _, s := range sc.Slots {
		v.Doors = append(v.Doors, s.Label)
	}
	for _, s := range sc.Failed {
		v.Failed = append(v.Failed, s.Label)
	}
	return v
}

func (w *Web) showScreen(sc panel.Screen) {
	w.panel.publish("screen", viewScreen(sc), true)
}

// panelReplay is what a page that (re)connects gets first: the grid and the screen.
func (w *Web) panelReplay() []sseEvent {
	var grid []byte
	if g, err := w.grid(context.Background()); err == nil {
		grid, _ = json.Marshal(g)
	}
	out := []sseEvent{w.info()}
	if grid != nil {
		out = append(out, sseEvent{name: "grid", data: grid})
	}
	if sc := w.panel.last("screen"); sc != nil {
		out = append(out, *sc)
	}
	return out
}
