package lockboardtest_test

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/internal/testenv"
	"go.bug.st/serial"
)

const clientEnv = "LOCKBOARDTEST_CLIENT_PATH"

// TestHelperClient is not a test: run as a child process by
// TestSurvivesKilledClient, it opens the port (go.bug.st/serial takes it
// exclusively), talks once, reports ready and blocks until it is killed.
func TestHelperClient(t *testing.T) {
	path := os.Getenv(clientEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	p, err := serial.Open(path, &serial.Mode{BaudRate: 19200})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	got := roundTrip(t, p, []byte{0x02, 0x00, 0x30, 0x03, 0x35}, 9)
	fmt.Printf("ready %d\n", len(got))
	select {} // until SIGKILL
}

func TestSurvivesKilledClient(t *testing.T) {
	s := lockboardtest.Start(t, lockboardtest.Config{Protocol: lockboard.ProtocolCU16,
		Boards: []lockboardtest.BoardSpec{{Addr: 0}}, Logger: quiet})
	for round := range 2 {
		after := s.LastSeq()
		// Through qemu when the binary is for another architecture (make test-arm).
		cmd := testenv.SelfCommand("-test.run=^TestHelperClient$")
		cmd.Env = append(os.Environ(), clientEnv+"="+s.Path())
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "ready") || strings.HasPrefix(sc.Text(), "error") {
					lines <- sc.Text()
					break
				}
			}
			close(lines)
		}()
		select {
		case line := <-lines:
			if line != "ready 9" {
				t.Fatalf("round %d: client said %q", round, line)
			}
		case <-time.After(waitLimit):
			_ = cmd.Process.Kill()
			t.Fatalf("round %d: client never got ready", round)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		waitEvent(t, s, after, func(e lockboardtest.Event) bool { return e.Kind == lockboardtest.EventDisconnect })
	}
	p := openPort(t, s.Path())
	if got := roundTrip(t, p, []byte{0x02, 0x00, 0x30, 0x03, 0x35}, 9); len(got) != 9 {
		t.Errorf("after two killed clients got % X", got)
	}
}
