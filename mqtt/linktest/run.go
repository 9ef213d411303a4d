package linktest

import (
	"context"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/link"
)

// Start runs l in a goroutine until stop is called or the test ends, and
// fails the test if Run returns an error or does not return within 15 s of
// being stopped. stop may be called more than once.
func Start(t testing.TB, l *link.Link) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("linktest: link.Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("linktest: link.Run did not return within 15s of its context ending")
		}
	}
	t.Cleanup(stop)
	return stop
}
