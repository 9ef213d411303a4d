package lockboardtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Start creates a Set for a test, closed by tb.Cleanup, with its link in
// tb.TempDir() unless cfg.Link is set. If no pseudo-terminal can be opened
// the test fails when the environment variable CI is "true" and is skipped
// otherwise.
func Start(tb testing.TB, cfg Config) *Set {
	tb.Helper()
	if cfg.Link == "" {
		cfg.Link = filepath.Join(tb.TempDir(), "tty-"+cfg.Protocol.String())
	}
	s, err := New(cfg)
	if err != nil {
		if !errors.Is(err, ErrNoPTY) || os.Getenv("CI") == "true" {
			tb.Fatalf("virtual lock boards: %v", err)
		}
		tb.Skipf("virtual lock boards unavailable (set CI=true to fail): %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}
