// Package kiosktest drives the kiosk's page in a real headless Chromium for tests:
// Debian's chromium started by chromedp with a fresh profile and the flags the kiosk's
// tests promise, bounded steps, and the page's own markers (main's data-prompt,
// data-lang, data-seq) to wait on. Without chromium a test is skipped, and under
// CI=true it fails (internal/testenv).
package kiosktest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lockerd/lockerd/internal/testenv"
)

// StepTimeout bounds each Do and Get.
const StepTimeout = 20 * time.Second

// Browser starts Debian's chromium headless with a fresh --user-data-dir, no sandbox,
// no GPU, no background traffic, sound muted and allowed without a gesture, and a
// window of w x h CSS pixels. It ends with the test.
func Browser(t testing.TB, w, h int) context.Context {
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
	actx, cancelA := chromedp.NewExecAllocator(testenv.Context(t, 5*time.Minute), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("kiosktest: chromium: %v", err)
	}
	return ctx
}

// Do runs steps, bounded by StepTimeout, and fails the test on an error.
func Do(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Do(cctx, steps...); err != nil {
		t.Fatalf("kiosktest: %s: %v", what, err)
	}
}

// Get runs one action that returns a value, bounded by StepTimeout.
func Get[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	v, err := chromedp.Run(cctx, a)
	if err != nil {
		t.Fatalf("kiosktest: %s: %v", what, err)
	}
	return v
}

// WaitPrompt waits until the page shows prompt (a panel.Prompt's value).
func WaitPrompt(prompt string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`main[data-prompt=%q]`, prompt)))
}

// WaitLang waits until the page is in the language (a kiosk.Lang's value).
func WaitLang(lang string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`main[data-lang=%q]`, lang)))
}

// Press clicks the screen's keypad keys for keys, one by one.
func Press(keys string) chromedp.Action[chromedp.Void] {
	var steps []chromedp.Action[chromedp.Void]
	for _, k := range keys {
		steps = append(steps, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#pad button[data-key=%q]`, string(k))), chromedp.NodeVisible))
	}
	return chromedp.Steps(steps...)
}

// Text is the text of the element with id.
func Text(id string) chromedp.Action[string] { return chromedp.Text(chromedp.ID(id)) }

// Artifact is the path for a test artifact (a screenshot): in $KIOSK_ARTIFACTS, or
// $TMPDIR/lockerd-kiosk-artifacts.
func Artifact(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("KIOSK_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "lockerd-kiosk-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// Screenshot writes the page as it is now to the artifact name.png.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	png := Get(t, ctx, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.WriteFile(Artifact(t, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
