package sim

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lockerd/lockerd/internal/browsertest"
	"github.com/lockerd/lockerd/internal/canary"
)

// clickOn clicks the element sel finds.
func clickOn(t *testing.T, b *browser, sel string) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// browser is a tab on the page.
type browser struct {
	ctx context.Context
}

// until polls a JavaScript expression in the page until it is truthy and returns its
// value as a string.
func until(t *testing.T, b *browser, what, expr string) string {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Poll[string](expr, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		shot(t, b, "failed")
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return v
}

// promptIs waits until the page's panel display shows prompt.
func promptIs(t *testing.T, b *browser, prompt string) {
	t.Helper()
	until(t, b, "the prompt "+prompt, fmt.Sprintf(`document.querySelector("#display").dataset.prompt === %q ? "yes" : ""`, prompt))
}

// cellState waits until the grid shows the compartment labelled label in state.
func cellState(t *testing.T, b *browser, label, state string) {
	t.Helper()
	until(t, b, label+" "+state, fmt.Sprintf(`document.querySelector('#grid .cell[data-label=%q][data-state=%q]') ? "yes" : ""`, label, state))
}

// press clicks the page's keypad keys.
func press(t *testing.T, b *browser, keys string) {
	t.Helper()
	for _, k := range keys {
		clickOn(t, b, fmt.Sprintf(`#keypad button[data-key=%q]`, string(k)))
	}
}

func shot(t *testing.T, b *browser, name string) {
	t.Helper()
	browsertest.Screenshot(t, b.ctx, name)
}

// TestWebBrowser plays a deposit and a pickup in headless Chromium, only by clicking
// the page, and reading it as a person would: the cloud sends the courier out, the
// courier shows the badge, types the PIN from the cloud's text, scans a parcel's label;
// the automatic person opens and shuts the door; the recipient types the code and
// phone digits from the cloud's text and the door opens. Then the page's DOM, apart
// from the cloud's SMS panel, is scanned for the play's secrets.
func TestWebBrowser(t *testing.T) {
	r := startWeb(t)
	b := &browser{ctx: browsertest.Start(t, 2*time.Minute, browsertest.Options{})}
	if err := chromedp.Do(b.ctx, chromedp.Navigate(r.url+"/")); err != nil {
		t.Fatal(err)
	}
	until(t, b, "the grid", `document.querySelectorAll("#grid .cell").length === 14 ? "yes" : ""`)
	promptIs(t, b, "welcome")
	shot(t, b, "1-welcome")

	clickOn(t, b, "#deliver")
	text := until(t, b, "the courier's text", `(document.querySelector('#messages li button[data-show="badge"]')?.parentElement.textContent) || ""`)
	m := regexp.MustCompile(`your PIN is (\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("the courier's text has no PIN: %q", text)
	}
	pin := m[1]
	until(t, b, "the bag", `document.querySelectorAll('#bag button[data-show="label"]').length === 2 ? "yes" : ""`)
	clickOn(t, b, `#messages li button[data-show="badge"]`)
	promptIs(t, b, "enter_pin")
	press(t, b, pin+"#")
	promptIs(t, b, "session_open")
	parcel := until(t, b, "a parcel", `document.querySelector('#bag button[data-show="label"]').dataset.parcel`)
	clickOn(t, b, fmt.Sprintf(`#bag button[data-parcel=%q]`, parcel))
	promptIs(t, b, "deposit")
	door := strings.TrimPrefix(until(t, b, "the door", `document.querySelector("#prompt-detail").textContent`), "Door ")
	shot(t, b, "2-deposit")
	cellState(t, b, door, CellOccupied) // the person opened and shut it: deposited
	press(t, b, "#")
	promptIs(t, b, "session_closed")

	text = until(t, b, "the recipient's text", fmt.Sprintf(`document.querySelector('#messages li[data-to="recipient of %s"]')?.textContent || ""`, parcel))
	m = regexp.MustCompile(`is (\d+); then type your phone's last four digits, (\d{4})`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("the recipient's text has no code: %q", text)
	}
	code, phone := m[1], m[2]
	press(t, b, code+"#"+phone+"#")
	promptIs(t, b, "doors_open")
	if got := until(t, b, "the door", `document.querySelector("#prompt-detail").textContent`); got != "Door "+door {
		t.Errorf("the pickup shows %q, want door %s", got, door)
	}
	shot(t, b, "3-pickup")
	cellState(t, b, door, CellFree) // the recipient took it and shut the door

	// What the page shows outside the cloud's panel holds no secret of the play.
	html := until(t, b, "the page", `(() => { const c = document.documentElement.cloneNode(true); c.querySelector("#cloud").remove(); return c.outerHTML; })()`)
	cloud := until(t, b, "the cloud's panel", `document.querySelector("#cloud").textContent`)
	r.web.world.mu.Lock()
	p := r.web.world.parcels[parcel]
	badge := r.web.world.badge
	r.web.world.mu.Unlock()
	h, err := canary.New(map[string]string{"tracking": p.Tracking, "code": p.Code, "qr": p.QR, "badge": badge, "PIN": pin})
	if err != nil {
		t.Fatal(err)
	}
	var rec canary.Record
	rec.Add("page DOM without the cloud's panel", []byte(html))
	s := rec.Surface("sim page in chromium", canary.KindPage)
	s.Expect = []string{`data-prompt="doors_open"`, `data-label="` + door + `"`}
	if err := h.Register(s); err != nil {
		t.Fatal(err)
	}
	h.Check(t)
	if !strings.Contains(cloud, code) || !strings.Contains(cloud, pin) {
		t.Error("the cloud's panel lacks the code or the PIN it texted")
	}
}
