package mqtttest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestOpenFilesReachesTheBroker: Options.OpenFiles is the broker process's own soft
// open-file limit. Go restores its original soft limit in the children it starts, so
// a limit raised in the test process alone would not reach mosquitto.
func TestOpenFilesReachesTheBroker(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	want := min(int(lim.Max), 4000)
	if uint64(want) == lim.Cur { // the inherited limit would pass for the raised one
		want--
	}
	b := Start(t, Options{Users: []User{{Name: "cloud", Password: "cp", Cloud: true}}, OpenFiles: want})
	got, err := softOpenFiles(b.PID())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("mosquitto's soft open-file limit is %d, want %d", got, want)
	}
	MustConnect(t, b.URL(), "cloud", "cp", nil) // and it serves
}

// softOpenFiles reads a process's soft RLIMIT_NOFILE from /proc.
func softOpenFiles(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return strconv.Atoi(f[0]) // soft, hard, units
			}
		}
	}
	return 0, fmt.Errorf("no open-file limit in /proc/%d/limits", pid)
}
