// Package browsertest starts a real headless Chromium for end-to-end tests of the pages
// the project serves (the simulator's front panel, the kiosk), driven from Go with
// chromedp. Debian's chromium is the browser CI installs: where it is missing a test
// fails under CI=true and is skipped elsewhere (internal/testenv). Each browser gets a
// fresh profile and no network of its own beyond the page under test (no background
// networking, component updates or sync), and uncaught exceptions in the page fail the
// test. Screenshots go to an artifacts directory that outlives the test.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/lockerd/lockerd/internal/testenv"
)

// ArtifactsEnv names the directory for screenshots and other test artifacts; by
// default they go under the system's temporary directory, in lockerd-artifacts.
const ArtifactsEnv = "LOCKERD_TEST_ARTIFACTS"

// Chromium returns the browser's path, or fails (CI=true) or skips t.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := findProgram(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "chromium (Debian package chromium)")
	return ""
}

func findProgram(name string) (string, error) {
	for _, dir := range append(filepath.SplitList(os.Getenv("PATH")), "/usr/bin") {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}

// Options shape a browser; the zero value is a 1400x1000 window.
type Options struct {
	Width, Height int
}

// Start starts a headless Chromium for t and returns the context of its first tab,
// which ends after timeout or with the test; the browser and its profile are removed
// when the test ends. The flags are: --headless --no-sandbox --disable-gpu
// --disable-background-networking --disable-component-update --disable-sync
// --no-first-run and a fresh --user-data-dir.
func Start(t testing.TB, timeout time.Duration, o Options) context.Context {
	t.Helper()
	exe := Chromium(t)
	if o.Width == 0 {
		o.Width, o.Height = 1400, 1000
	}
	profile, err := os.MkdirTemp("", "browsertest-profile-")
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: after the browser has exited.
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(o.Width, o.Height),
	)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("browsertest: starting chromium: %v", err)
	}
	err = chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok && e.ExceptionDetails != nil {
			what := e.ExceptionDetails.Text
			if x := e.ExceptionDetails.Exception; x != nil {
				what += " " + x.Description
			}
			t.Errorf("browsertest: uncaught exception in the page: %s", what)
		}
	})
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancel)
	return ctx
}

// ArtifactsDir returns (creating it) the directory for t's artifacts:
// $LOCKERD_TEST_ARTIFACTS/<test name>, by default under the temporary directory.
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv(ArtifactsEnv)
	if root == "" {
		root = filepath.Join(os.TempDir(), "lockerd-artifacts")
	}
	dir := filepath.Join(root, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Screenshot writes a full-page PNG of the tab as name.png in t's artifacts
// directory and returns its path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	path := filepath.Join(ArtifactsDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("browsertest: screenshot %s", path)
	return path
}
