package kiosk

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/locker"
)

// inputs records what the kiosk passes to the panel.
type inputs struct {
	mu  sync.Mutex
	all []panel.Input
}

func (in *inputs) add(i panel.Input) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.all = append(in.all, i)
}

func (in *inputs) keys() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var b strings.Builder
	for _, i := range in.all {
		if i.Scan != nil {
			b.WriteString("[scan]")
			continue
		}
		b.WriteByte(byte(i.Key))
	}
	return b.String()
}

// serve starts k on a loopback port for the test and returns its base URL.
func serve(t testing.TB, k *Kiosk) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return "http://" + ln.Addr().String()
}

func req(t *testing.T, method, url, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	// Bounded: a stream served by mistake must fail the test, not hang it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // a stream ends with ctx
	resp.Body.Close()
	return resp
}

// TestKioskHasTheKeypadsRightsOnly: a kiosk client that tries what only the control
// socket's admin may do (announce, courier upsert, resolve) or opens a door by id is
// refused, and nothing reaches the panel; a scan cannot be sent; the keys of the
// keypad can.
func TestKioskHasTheKeypadsRightsOnly(t *testing.T) {
	var in inputs
	k := New(Config{Input: in.add})
	base := serve(t, k)
	refused := []struct{ method, path, body string }{
		{"POST", control.PathAnnounce, `{"parcels":[]}`},
		{"POST", control.PathCourier, `{"id":"c1"}`},
		{"POST", control.PathResolve, `{"compartment":1}`},
		{"POST", control.PathPickup, `{"code":"12345678"}`},
		{"POST", control.PathLogin, `{"badge":"b"}`},
		{"POST", control.PathScan, `{"raw":"x"}`},
		{"GET", control.PathInv, ""},
		{"GET", control.PathIdentity, ""},
		{"POST", "/open", `{"compartment":3}`},
		{"POST", "/v1/open", `{"compartment":3}`},
		{"POST", "/v1/compartments/3/open", `{}`},
		{"POST", "/scan", `{"raw":"LKB:badge"}`},
		{"PUT", "/key", `{"key":"1"}`},
		{"DELETE", "/lang", ""},
		{"POST", "/key", `{"key":"LKB:badge"}`},
		{"POST", "/key", `{"key":"A"}`},
		{"POST", "/key", `{"key":"12"}`},
		{"POST", "/key", `{"key":"1","scan":"LKQ:X"}` + strings.Repeat(" ", 64)},
	}
	for _, r := range refused {
		resp := req(t, r.method, base+r.path, r.body, nil)
		if resp.StatusCode < 400 {
			t.Errorf("%s %s %s: %d, want refused", r.method, r.path, r.body, resp.StatusCode)
		}
	}
	if got := in.keys(); got != "" {
		t.Fatalf("refused requests reached the panel: %q", got)
	}
	for _, key := range ScreenKeys {
		if resp := req(t, "POST", base+"/key", `{"key":"`+string(key)+`"}`, nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("key %c: %d", key, resp.StatusCode)
		}
	}
	if got := in.keys(); got != ScreenKeys {
		t.Fatalf("panel got %q, want %q", got, ScreenKeys)
	}
	in.mu.Lock()
	for _, i := range in.all {
		if i.Source != "kiosk" || i.Scan != nil {
			t.Errorf("input %+v: want a key from source kiosk", i)
		}
	}
	in.mu.Unlock()
}

// TestKioskRefusesOtherOrigins: DNS rebinding (a foreign Host), another page's origin
// and cross-site fetches are refused; no CORS header is ever sent.
func TestKioskRefusesOtherOrigins(t *testing.T) {
	var in inputs
	k := New(Config{Input: in.add})
	base := serve(t, k)
	host := strings.TrimPrefix(base, "http://")
	_, port, _ := net.SplitHostPort(host)
	cases := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		want   int
	}{
		{"own page", "GET", "/", nil, 200},
		{"localhost alias", "GET", "/", map[string]string{"Host": "localhost:" + port}, 200},
		{"rebound name", "GET", "/", map[string]string{"Host": "evil.example:" + port}, 403},
		{"rebound name, state", "GET", "/state", map[string]string{"Host": "attacker.test"}, 403},
		{"rebound name, events", "GET", "/events", map[string]string{"Host": "evil.example:" + port}, 403},
		{"rebound name, key", "POST", "/key", map[string]string{"Host": "evil.example:" + port}, 403},
		{"other origin, key", "POST", "/key", map[string]string{"Origin": "http://evil.example"}, 403},
		{"other port origin", "POST", "/key", map[string]string{"Origin": "http://127.0.0.1:1"}, 403},
		{"https origin", "POST", "/key", map[string]string{"Origin": "https://" + host}, 403},
		{"null origin", "POST", "/key", map[string]string{"Origin": "null"}, 403},
		{"cross-site fetch", "POST", "/key", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site fetch", "GET", "/state", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"form post", "POST", "/key", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 403},
		{"preflight", "OPTIONS", "/key", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, 403},
		{"own origin, key", "POST", "/key", map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"}, 204},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := ""
			if c.method == "POST" {
				body = `{"key":"5"}`
			}
			resp := req(t, c.method, base+c.path, body, c.hdr)
			if resp.StatusCode != c.want {
				t.Fatalf("%d, want %d", resp.StatusCode, c.want)
			}
			for h := range resp.Header {
				if strings.HasPrefix(strings.ToLower(h), "access-control-") {
					t.Fatalf("CORS header %s sent", h)
				}
			}
		})
	}
	if got := in.keys(); got != "5" {
		t.Fatalf("panel got %q, want the one accepted key", got)
	}
}

// stream reads a kiosk's event stream.
type stream struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func openStream(t *testing.T, base string) *stream {
	t.Helper()
	req, _ := http.NewRequestWithContext(testenv.Context(t, 30*time.Second), "GET", base+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &stream{resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next returns the next view, skipping comments and retry lines.
func (s *stream) next(t *testing.T) view {
	t.Helper()
	for s.sc.Scan() {
		line := s.sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var v view
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Fatalf("event %q: %v", data, err)
			}
			return v
		}
	}
	t.Fatalf("stream ended: %v", s.sc.Err())
	return view{}
}

// TestEventsFollowThePanel: a page gets the current screen at once, then each change;
// a page that reconnects gets the screen shown meanwhile.
func TestEventsFollowThePanel(t *testing.T) {
	k := New(Config{Language: Chinese, Doors: Layout([]string{"A1", "A2", "B1", "B2"})})
	base := serve(t, k)
	s := openStream(t, base)
	if v := s.next(t); v.Prompt != "welcome" || v.Lang != Chinese || v.Title != "欢迎" {
		t.Fatalf("first view %+v", v)
	}
	k.Show(panel.Screen{Mode: panel.ModeIdle, Prompt: panel.PromptDoorsOpen, Slots: []locker.Slot{{Compartment: 3, Label: "B1"}}})
	v := s.next(t)
	if v.Prompt != "doors_open" || !strings.Contains(v.Title, "B1") || len(v.Map) != 4 {
		t.Fatalf("doors open view %+v", v)
	}
	for _, c := range v.Map {
		if (c.Label == "B1") != (c.State == "open") {
			t.Fatalf("map %+v", v.Map)
		}
	}
	s.resp.Body.Close()
	k.Show(panel.Screen{Mode: panel.ModeIdle, Prompt: panel.PromptLocked, RetryAfter: 90 * time.Second})
	k.SetLang(English)
	s2 := openStream(t, base)
	v = s2.next(t)
	if v.Prompt != "locked" || v.Lang != English || v.RetryMS <= 85_000 || !strings.Contains(v.Detail, "90 seconds") {
		t.Fatalf("reconnected view %+v", v)
	}
}

// TestHardwareKeys: the keypad's A asks every page to speak, B switches the language;
// other keys are the panel's.
func TestHardwareKeys(t *testing.T) {
	k := New(Config{Speech: fakeSpeaker{}})
	base := serve(t, k)
	s := openStream(t, base)
	if v := s.next(t); v.Speak {
		t.Fatal("a new page speaks unasked")
	}
	for _, key := range []keypad.Key{'1', '#', '*', 'C', 'D'} {
		if k.HardwareKey(key) {
			t.Fatalf("kiosk took key %c", key)
		}
	}
	if !k.HardwareKey(KeySpeak) {
		t.Fatal("read-aloud key not taken")
	}
	if v := s.next(t); !v.Speak {
		t.Fatalf("no speak after key A: %+v", v)
	}
	if !k.HardwareKey(KeyLang) {
		t.Fatal("language key not taken")
	}
	if v := s.next(t); v.Speak || v.Lang != Chinese {
		t.Fatalf("after key B: %+v", v)
	}
}

type fakeSpeaker struct{}

func (fakeSpeaker) Speak(_ context.Context, voice, text string) ([]byte, error) {
	return []byte("RIFF" + voice + text), nil
}

// TestLanguageReturnsToTheDefault: a language chosen on the screen lasts while screens
// change, and the next person, LangIdle after the last screen, meets the default.
func TestLanguageReturnsToTheDefault(t *testing.T) {
	k := New(Config{Language: Chinese})
	k.SetLang(English)
	k.tick(time.Now().Add(LangIdle / 2))
	if k.Lang() != English {
		t.Fatal("the chosen language did not last")
	}
	k.Show(panel.Screen{Mode: panel.ModeCode, Prompt: panel.PromptTyping, Digits: 1})
	k.tick(time.Now().Add(LangIdle - time.Second))
	if k.Lang() != English {
		t.Fatal("the language went back while the person was still typing")
	}
	k.tick(time.Now().Add(LangIdle + time.Second))
	if k.Lang() != Chinese {
		t.Fatalf("language %s after %v without a screen, want the default", k.Lang(), LangIdle)
	}
}
