package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestTerminalDetected: run itself tells a terminal from a pipe. On a pty, watch says
// it is waiting and the bulk announce draws its bar (the real detection, not the
// forced flag of the other tests); the same run into buffers prints neither.
func TestTerminalDetected(t *testing.T) {
	b, cfg := fakeSetup(t)
	startFakeDone(t, b, cfg)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var seen bytes.Buffer
	done := make(chan struct{})
	go func() { // the terminal's screen: everything written to the pty
		defer close(done)
		_, _ = io.Copy(&seen, ptmx)
	}()
	if code := run(t.Context(), []string{"-config", cfg, "watch", "--for", "100ms"}, strings.NewReader(""), tty, tty); code != 0 {
		t.Fatalf("watch on a pty: exit %d", code)
	}
	if code := run(t.Context(), []string{"-config", cfg, "announce", "L1", "-"}, strings.NewReader(announceCSV(300)), tty, tty); code != 0 {
		t.Fatalf("announce on a pty: exit %d", code)
	}
	tty.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the pty did not close")
	}
	screen := seen.String()
	for _, want := range []string{"waiting for events of every locker (Ctrl-C to stop)", "300/300", ": done\r\n", "300 parcels in 3 commands: 300 announced"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the terminal lacks %q:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, `{"id"`) {
		t.Errorf("JSON on a terminal:\n%s", screen)
	}
	code, out, errOut := ctlOn(t, terminals{}, announceCSV(300), "-config", cfg, "announce", "L1", "-")
	if code != 0 || strings.Contains(errOut, "300/300") || !strings.HasPrefix(out, `{"id"`) {
		t.Errorf("into buffers: exit %d, stdout %q, stderr %q: want JSON and no bar", code, out, errOut)
	}
}
