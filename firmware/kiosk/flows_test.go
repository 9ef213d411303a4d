package kiosk

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/chromedp"

	"github.com/lockerd/lockerd/firmware/kiosk/kiosktest"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/internal/canary"
	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/locker"
)

// TestCatalogue: every prompt has a title and a detail in both languages, fully
// formatted, Chinese in Han characters and English in none.
func TestCatalogue(t *testing.T) {
	for _, l := range Langs {
		for _, p := range promptKeys {
			s := panel.Screen{Mode: panel.ModeIdle, Prompt: p, Digits: 2, RetryAfter: 30 * time.Second, CodeLength: 8,
				Slots: []locker.Slot{{Label: "A1"}}, Failed: []locker.Slot{{Label: "B2"}}, Size: locker.SizeL}
			v := render(s, time.Now(), time.Now(), l, nil, timing{}, 1, false)
			for _, txt := range []string{v.Title, v.Detail} {
				han := strings.ContainsFunc(txt, func(r rune) bool { return unicode.Is(unicode.Han, r) })
				if txt == "" || strings.Contains(txt, "%!") || strings.Contains(txt, string(p)+".t") || strings.Contains(txt, string(p)+".d") || han != (l == Chinese) {
					t.Errorf("%s %s: %q", l, p, txt)
				}
			}
		}
	}
	en := render(panel.Screen{Prompt: panel.PromptDoorsOpen, Slots: []locker.Slot{{Label: "A1"}, {Label: "B2"}}}, time.Now(), time.Now(), English, nil, timing{}, 1, false)
	if en.Title != "Doors A1 and B2 are open" || en.Detail != "Take your 2 parcels and close the doors." {
		t.Errorf("plural: %q / %q", en.Title, en.Detail)
	}
	one := render(panel.Screen{Prompt: panel.PromptLocked, RetryAfter: time.Second}, time.Now(), time.Now(), English, nil, timing{}, 1, false)
	if one.Detail != "Code entry is paused. Try again in 1 second." {
		t.Errorf("singular: %q", one.Detail)
	}
}

// wavSamples returns the 16-bit samples of a WAV's data chunk.
func wavSamples(t *testing.T, wav []byte) []int16 {
	t.Helper()
	i := bytes.Index(wav, []byte("data"))
	if !bytes.HasPrefix(wav, []byte("RIFF")) || i < 0 || len(wav) < i+8 {
		t.Fatalf("not a WAV (%d bytes)", len(wav))
	}
	pcm := wav[i+8:]
	out := make([]int16, len(pcm)/2)
	for j := range out {
		out[j] = int16(binary.LittleEndian.Uint16(pcm[2*j:]))
	}
	return out
}

// TestSpeech: for every prompt in both languages the audio the kiosk serves is
// espeak-ng's rendering, in that language's voice, of the sentence the page shows
// (title and detail from the catalogue), and it is not silence.
func TestSpeech(t *testing.T) {
	espeak := testenv.LookPath(t, "espeak-ng")
	k := New(Config{Speech: Espeak{Path: espeak}, EntryTimeout: time.Minute})
	base := serve(t, k)
	for _, l := range Langs {
		k.SetLang(l)
		for _, p := range promptKeys {
			k.Show(panel.Screen{Mode: panel.ModeIdle, Prompt: p, Digits: 3, CodeLength: 8,
				Slots: []locker.Slot{{Label: "A2"}}, Failed: []locker.Slot{{Label: "B1"}}, Size: locker.SizeM})
			var v view
			resp, err := http.Get(base + "/state")
			if err != nil {
				t.Fatal(err)
			}
			json.NewDecoder(resp.Body).Decode(&v) //nolint:errcheck // checked below
			resp.Body.Close()
			if v.Prompt != string(p) || v.Lang != l || v.Title == "" {
				t.Fatalf("state %+v", v)
			}
			resp, err = http.Get(base + "/speech.wav?seq=" + strconv.FormatUint(v.Seq, 10))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/wav" {
				t.Fatalf("%s %s: %d %s", l, p, resp.StatusCode, got)
			}
			sep := ". "
			if l == Chinese {
				sep = "。"
			}
			sentence := strings.TrimRight(v.Title, ".。") + sep + v.Detail
			voice := map[Lang]string{English: "en", Chinese: "cmn"}[l]
			cmd := exec.Command(espeak, "-v", voice, "--stdout")
			cmd.Stdin = strings.NewReader(sentence)
			want, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s %s: served %d bytes, espeak-ng -v %s of %q gives %d", l, p, len(got), voice, sentence, len(want))
			}
			var sum float64
			peak := 0
			samples := wavSamples(t, got)
			for _, s := range samples {
				sum += float64(s) * float64(s)
				peak = max(peak, int(math.Abs(float64(s))))
			}
			if rms := math.Sqrt(sum / float64(max(len(samples), 1))); len(samples) < 8000 || peak < 2000 || rms < 200 {
				t.Errorf("%s %s: silence? %d samples, peak %d, rms %.0f", l, p, len(samples), peak, rms)
			}
		}
	}
	// A page asking for a screen that has since changed is not read a stale prompt.
	if resp, err := http.Get(base + "/speech.wav?seq=1"); err != nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("stale speech: %v %v", resp.StatusCode, err)
	}
}

// TestBrowserKeypadOnly: a recipient with no touch at all (a USB keypad or keyboard)
// goes through a wrong code, a lock-out with its countdown, the language switch and
// a pickup, and the page is scanned for the secrets typed.
func TestBrowserKeypadOnly(t *testing.T) {
	st := &station{lockFor: 4 * time.Second}
	r := newRig(t, Config{}, st)
	var rec canary.Record
	streamTo(t, r.url, &rec)
	ctx := kiosktest.Browser(t, 800, 480)
	kiosktest.Do(t, ctx, "welcome", chromedp.Navigate(r.url), kiosktest.WaitPrompt("welcome"))
	kiosktest.Do(t, ctx, "wrong", chromedp.KeyEvent("11111111#0000#"), kiosktest.WaitPrompt("wrong_code"),
		chromedp.KeyEvent("22222222#0000#"), kiosktest.WaitPrompt("wrong_code"))
	kiosktest.Do(t, ctx, "lock", chromedp.KeyEvent("33333333#0000#"), kiosktest.WaitPrompt("locked"), chromedp.WaitVisible(chromedp.ID("countdown")))
	first, _ := strconv.Atoi(kiosktest.Get(t, ctx, "countdown", kiosktest.Text("countdown")))
	if first < 3 || first > 4 {
		t.Fatalf("countdown starts at %d, want 4", first)
	}
	kiosktest.Get(t, ctx, "count down", chromedp.Poll[bool](`+document.getElementById("countdown").textContent <= 2`))
	kiosktest.Do(t, ctx, "language", chromedp.KeyEvent("b"), chromedp.WaitVisible(chromedp.CSS(`main[data-lang="zh-Hans"]`)))
	if title, lang := kiosktest.Get(t, ctx, "title", kiosktest.Text("title")), kiosktest.Get(t, ctx, "lang", chromedp.Evaluate[string](`document.documentElement.lang`)); title != "尝试次数过多" || lang != "zh-Hans" {
		t.Fatalf("after b: %q lang %q", title, lang)
	}
	st.mu.Lock()
	st.failures = 0 // the lock-out is over (the fake has no clock)
	st.mu.Unlock()
	kiosktest.Do(t, ctx, "pickup", chromedp.KeyEvent(testCode), chromedp.KeyEvent("\r"), kiosktest.WaitPrompt("phone"),
		chromedp.KeyEvent(testPhone+"#"), kiosktest.WaitPrompt("doors_open"))
	if title := kiosktest.Get(t, ctx, "title", kiosktest.Text("title")); title != "A2 号柜门已打开" {
		t.Fatalf("pickup title %q", title)
	}
	kiosktest.Do(t, ctx, "back to English", chromedp.Click(chromedp.ID("lang")), chromedp.WaitVisible(chromedp.CSS(`main[data-lang="en"]`)))
	for _, asset := range []string{"", "app.js", "app.css", "state"} {
		resp, err := http.Get(r.url + asset)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		rec.Add("GET /"+asset, b)
	}
	rec.Add("page DOM", []byte(kiosktest.Get(t, ctx, "dom", chromedp.OuterHTML(chromedp.CSS("html")))))
	h, err := canary.New(map[string]string{"code": testCode, "phone": testPhone + "-x", "wrong1": "11111111",
		"wrong2": "22222222", "wrong3": "33333333"})
	if err != nil {
		t.Fatal(err)
	}
	s := rec.Surface("kiosk pages and event stream", canary.KindPage)
	s.Expect, s.MinItems = []string{"doors_open", "A2 号柜门已打开", "locked"}, 5
	if err := h.Register(s); err != nil {
		t.Fatal(err)
	}
	h.Check(t)
}

// streamTo records every event of the kiosk's stream until the test ends.
func streamTo(t *testing.T, url string, rec *canary.Record) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(b)
			if n > 0 {
				rec.Add("event stream", b[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-done })
}

// TestBrowserReconnect: the page says it lost the locker while lockerd's kiosk is
// down, and shows the screen the panel moved to meanwhile once it is back.
func TestBrowserReconnect(t *testing.T) {
	k := New(Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx1, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Serve(ctx1, ln) }()
	ctx := kiosktest.Browser(t, 800, 480)
	kiosktest.Do(t, ctx, "welcome", chromedp.Navigate("http://"+addr+"/"), kiosktest.WaitPrompt("welcome"))
	stop()
	<-done
	kiosktest.Do(t, ctx, "offline", chromedp.WaitVisible(chromedp.ID("offline")))
	k.Show(panel.Screen{Mode: panel.ModeIdle, Prompt: panel.PromptDoorsOpen, Slots: []locker.Slot{{Label: "C3"}}})
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, stop2 := context.WithCancel(context.Background())
	go func() { done <- k.Serve(ctx2, ln2) }()
	t.Cleanup(func() { stop2(); <-done })
	kiosktest.Do(t, ctx, "recovered", kiosktest.WaitPrompt("doors_open"), chromedp.WaitNotVisible(chromedp.ID("offline")))
	if title := kiosktest.Get(t, ctx, "title", kiosktest.Text("title")); title != "Door C3 is open" {
		t.Fatalf("after reconnect: %q", title)
	}
}
