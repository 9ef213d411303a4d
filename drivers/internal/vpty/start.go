package vpty

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/lockerd/lockerd/internal/testenv"
)

// Start opens a virtual device for a test with open (vpty.Open, lockboardtest.New,
// scannertest.New) and closes it when the test ends. Every test that needs a pty
// goes through it, so that a missing pseudo-terminal is handled alike everywhere:
// it is a missing component (internal/testenv: a failure under CI=true, a skip
// elsewhere); any other error fails the test. what names the device in messages.
func Start[D io.Closer](tb testing.TB, what string, open func() (D, error)) D {
	tb.Helper()
	d, err := open()
	if err != nil {
		if errors.Is(err, ErrNoPTY) {
			testenv.Missing(tb, fmt.Sprintf("a pseudo-terminal for %s (%v)", what, err))
		}
		tb.Fatalf("%s: %v", what, err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	return d
}
