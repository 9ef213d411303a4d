package kiosk

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/chromedp"

	"github.com/lockerd/lockerd/firmware/kiosk/kiosktest"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/locker"
)

// mainScreens are the screens a person meets, one of each kind of layout: the
// recipient's, the courier's and the staffed station's.
var mainScreens = []struct {
	name string
	s    panel.Screen
}{
	{"welcome", panel.Screen{Mode: panel.ModeIdle, Prompt: panel.PromptWelcome}},
	{"typing", panel.Screen{Mode: panel.ModeCode, Prompt: panel.PromptTyping, Digits: 5}},
	{"phone", panel.Screen{Mode: panel.ModePhone, Prompt: panel.PromptPhone}},
	{"wrong-code", panel.Screen{Mode: panel.ModeIdle, Prompt: panel.PromptWrongCode}},
	{"code-format", panel.Screen{Mode: panel.ModeIdle, Prompt: panel.PromptCodeFormat, CodeLength: 8}},
	{"locked", panel.Screen{Mode: panel.ModeIdle, Prompt: panel.PromptLocked, RetryAfter: 90 * time.Second}},
	{"doors-open", panel.Screen{Mode: panel.ModeIdle, Prompt: panel.PromptDoorsOpen,
		Slots: []locker.Slot{{Compartment: 2, Label: "A2"}, {Compartment: 8, Label: "C2"}}}},
	{"door-fault", panel.Screen{Mode: panel.ModeIdle, Prompt: panel.PromptDoorFault, Failed: []locker.Slot{{Compartment: 5, Label: "B2"}}}},
	{"enter-pin", panel.Screen{Mode: panel.ModePIN, Prompt: panel.PromptEnterPIN}},
	{"session", panel.Screen{Mode: panel.ModeSession, Prompt: panel.PromptSessionOpen}},
	{"choose-size", panel.Screen{Mode: panel.ModeSession, Prompt: panel.PromptChooseSize}},
	{"deposit", panel.Screen{Mode: panel.ModeSession, Prompt: panel.PromptDeposit, Size: locker.SizeM, Slots: []locker.Slot{{Compartment: 6, Label: "B3"}}}},
	{"shelf", panel.Screen{Mode: panel.ModeIdle, Prompt: panel.PromptShelf, Slots: []locker.Slot{{Compartment: 9, Label: "K3", Kind: locker.KindShelf}}}},
	{"wrong-parcel", panel.Screen{Mode: panel.ModeIdle, Prompt: panel.PromptWrongParcel}},
	{"timeout-warning", panel.Screen{Mode: panel.ModeCode, Prompt: panel.PromptTyping, Digits: 3}},
}

// axeResult is what the test keeps of axe.run.
type axeResult struct {
	Violations []axeRule `json:"violations"`
	Incomplete []axeRule `json:"incomplete"`
}

type axeRule struct {
	ID    string `json:"id"`
	Help  string `json:"help"`
	Nodes []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// axeSource is node_modules/axe-core/axe.min.js, which .ci/run installs with npm ci.
func axeSource(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(path)
	if err != nil {
		testenv.Missing(t, "axe-core (npm ci at the repository's root): "+err.Error())
	}
	return string(b)
}

// pageChecks are what axe cannot see, measured in the page: controls smaller than
// 44x44 CSS px, horizontal scrolling, text cut by its box, and controls or text
// blocks that overlap. Each finding is a line.
const pageChecks = `(() => {
  const out = [];
  const vis = (el) => { const r = el.getBoundingClientRect(); const cs = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && cs.visibility !== "hidden" && cs.display !== "none"; };
  const buttons = [...document.querySelectorAll("button")].filter(vis);
  for (const b of buttons) { const r = b.getBoundingClientRect();
    if (r.width < 44 || r.height < 44) out.push("small target " + (b.id || b.textContent) + " " + r.width + "x" + r.height); }
  const de = document.documentElement;
  if (de.scrollWidth > window.innerWidth + 1) out.push("horizontal scroll " + de.scrollWidth + " > " + window.innerWidth);
  const blocks = [...document.querySelectorAll("h1, p, button, li, .brand")].filter(vis).filter(e => !e.closest(".sr-only") && !e.classList.contains("sr-only"));
  for (const e of blocks) {
    if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== "visible") out.push("clipped " + (e.id || e.tagName) + ": " + e.textContent.slice(0, 30));
    const r = e.getBoundingClientRect();
    if (r.right > window.innerWidth + 1 || r.left < -1) out.push("off screen " + (e.id || e.tagName));
  }
  const boxes = buttons.concat([...document.querySelectorAll("h1, #detail, #countdown, #warntext, #dots")].filter(vis));
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.contains(b) || b.contains(a)) continue;
    const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
    const w = Math.min(p.right, q.right) - Math.max(p.left, q.left), h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
    if (w > 1 && h > 1) out.push("overlap " + (a.id || a.textContent.slice(0, 12)) + " / " + (b.id || b.textContent.slice(0, 12)));
  }
  return out;
})()`

// showAndWait shows s on the kiosk and waits until the page has it in language l.
func showAndWait(t *testing.T, ctx context.Context, k *Kiosk, s panel.Screen, l Lang) {
	t.Helper()
	k.Show(s)
	seq := func() uint64 { k.mu.Lock(); defer k.mu.Unlock(); return k.seq }()
	kiosktest.Do(t, ctx, "show "+string(s.Prompt), chromedp.WaitVisible(chromedp.CSS(
		fmt.Sprintf(`main[data-prompt=%q][data-lang=%q][data-seq="%d"]`, s.Prompt, l, seq))))
}

// TestAccessibility shows every main screen in both languages at 800x480 and at 200%
// zoom: axe-core finds no WCAG 2.1 A/AA violation, every control is at least 44x44
// CSS px, nothing is clipped, overlaps or scrolls sideways, and Chinese is drawn with
// a CJK font. The screenshots are the test's artifacts.
func TestAccessibility(t *testing.T) {
	axe := axeSource(t)
	k := New(Config{EntryTimeout: 40 * time.Second, Speech: fakeSpeaker{},
		Doors: Layout([]string{"A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "C3"})})
	url := serve(t, k) + "/"
	incomplete := map[string]string{}
	for _, zoom := range []struct {
		name string
		w, h int64
		f    float64
	}{{"", 800, 480, 1}, {"-zoom200", 400, 240, 2}} {
		ctx := kiosktest.Browser(t, 800, 480)
		kiosktest.Do(t, ctx, "load", chromedp.EmulateViewport(zoom.w, zoom.h, chromedp.EmulateScale(zoom.f)),
			chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("main[data-seq]")))
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](axe+";undefined")); err != nil {
			t.Fatalf("inject axe: %v", err)
		}
		for _, l := range Langs {
			k.SetLang(l)
			for _, ms := range mainScreens {
				name := ms.name + "-" + string(l) + zoom.name
				s := ms.s
				if ms.name == "timeout-warning" {
					k.Show(s)
					k.mu.Lock()
					k.shown = time.Now().Add(-25 * time.Second) // 15 s left: the warning shows
					k.mu.Unlock()
					k.tick(time.Now())
					kiosktest.Do(t, ctx, name, chromedp.WaitVisible(chromedp.CSS(`#warn:not([hidden])`)))
				} else {
					showAndWait(t, ctx, k, s, l)
				}
				if got := kiosktest.Get(t, ctx, "html lang", chromedp.Evaluate[string](`document.documentElement.lang`)); got != string(l) {
					t.Errorf("%s: html lang %q", name, got)
				}
				res := kiosktest.Get(t, ctx, "axe "+name, chromedp.Evaluate[axeResult](
					`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, resultTypes: ["violations", "incomplete"]}).then(r => ({violations: r.violations, incomplete: r.incomplete}))`,
					chromedp.EvalAwaitPromise))
				for _, v := range res.Violations {
					b, _ := json.Marshal(v.Nodes)
					t.Errorf("%s: axe violation %s (%s) at %s", name, v.ID, v.Help, b)
				}
				for _, v := range res.Incomplete {
					incomplete[v.ID] = v.Help
				}
				for _, p := range kiosktest.Get(t, ctx, "checks "+name, chromedp.Evaluate[[]string](pageChecks)) {
					t.Errorf("%s: %s", name, p)
				}
				if l == Chinese {
					checkCJKFont(t, ctx, name)
				}
				kiosktest.Screenshot(t, ctx, name)
			}
		}
	}
	for id, help := range incomplete {
		t.Logf("axe incomplete (reviewed in docs/kiosk.md): %s: %s", id, help)
	}
	if len(incomplete) > 0 {
		b, _ := json.MarshalIndent(incomplete, "", "  ")
		os.WriteFile(kiosktest.Artifact(t, "axe-incomplete.json"), b, 0o644) //nolint:errcheck // an artifact
	}
}

// checkCJKFont asks Chromium which platform fonts drew the title: every glyph of a
// Chinese title must come from a CJK font (Noto Sans CJK), none from a fallback that
// would draw empty boxes.
func checkCJKFont(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	ids := kiosktest.Get(t, ctx, "title node", chromedp.QueryNodeIDs(chromedp.ID("title")))
	if _, err := chromedp.Call(ctx, css.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("css enable: %v", err)
	}
	res, err := chromedp.Call(ctx, css.GetPlatformFontsForNode, css.GetPlatformFontsForNodeParams{NodeID: ids[0]})
	if err != nil {
		t.Fatalf("%s: platform fonts: %v", name, err)
	}
	var cjk, other []string
	for _, f := range res.Fonts {
		entry := fmt.Sprintf("%s (%v glyphs)", f.FamilyName, f.GlyphCount)
		if strings.Contains(f.FamilyName, "CJK") {
			cjk = append(cjk, entry)
		} else {
			other = append(other, entry)
		}
	}
	if len(cjk) == 0 || len(other) > 0 {
		t.Errorf("%s: the Chinese title is drawn with %v and %v: want a CJK font only (fonts-noto-cjk)", name, cjk, other)
	}
}
