// Package testenv decides what a test does when a real component it needs (a
// pseudo-terminal, mosquitto, mosquitto_pub, openssl) is missing: under CI=true the
// test fails, because CI promises to install it; on a developer machine it is
// skipped, so that `go test` stays usable without the tools. It also holds what
// tests of every layer share around those components: bounded waits and a log
// sink safe for concurrent use. The fixtures themselves are drivers/internal/vpty
// (with lockboardtest and scannertest) for ptys and mqtt/mqtttest for brokers.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI, where every real component
// must be present.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing fails t under CI and skips it otherwise, explaining what is absent.
func Missing(t testing.TB, what string) {
	t.Helper()
	if InCI() {
		t.Fatalf("testenv: %s is missing and CI=true requires it", what)
	}
	t.Skipf("testenv: %s is missing (set CI=true to make this a failure)", what)
}

// LookPath returns the path of the named program, or fails or skips t (see
// Missing) when it is not installed. Extra directories are searched after
// PATH, for programs such as /usr/sbin/mosquitto that are often outside it.
func LookPath(t testing.TB, name string, extraDirs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range extraDirs {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(t, name)
	return ""
}

// Context returns a context that ends after d or when the test ends, so that
// every wait in a test is bounded even if the code under test hangs.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond every few milliseconds until it holds or d passes,
// and fails t with msg in the second case. It is for states that have no
// event to await (a file appearing, a port opening); prefer a channel when
// there is one.
func Eventually(t testing.TB, d time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: timed out after %v: %s", d, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SyncBuffer is a log sink that the code under test writes from its goroutines while
// the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FreePort returns a TCP port on the loopback interface that was free a moment ago,
// for a real server a test starts on it (mosquitto, nats-server).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Dialable reports whether something accepts TCP connections on the loopback port.
func Dialable(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
