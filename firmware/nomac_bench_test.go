package firmware_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// noMACTag is the build tag of lockerd without the device MAC on events and replies
// (mqtt/link/tagging_nomac.go): a build that is never shipped, run only by
// BenchmarkCloudAnnounce with ANNOUNCE_NOMAC=1 beside the real one, so that the MAC's
// cost is measured within one run (docs/adr/0050-authenticated-events.md).
const noMACTag = "lockerd_bench_nomac"

var noMACBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "lockerd-nomac-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "lockerd")
	if out, err := exec.Command("go", "build", "-tags", noMACTag, "-o", path, "github.com/lockerd/lockerd/firmware/cmd/lockerd").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -tags %s: %v\n%s", noMACTag, err, out)
	}
	return path, nil
})

// lockerdBinaryNoMAC is lockerd built with noMACTag, once per test run.
func lockerdBinaryNoMAC(t testing.TB) string {
	t.Helper()
	path, err := noMACBinary()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// macVariant says which build round runs when the announce benchmark compares lockerd
// with and without the MAC: rounds go in pairs, and the pairs alternate which build
// goes first (ABBA), so that the store's growth over the run weighs on both alike.
func macVariant(round int) (withMAC bool) {
	pair, second := round/2, round%2 == 1
	return (pair%2 == 0) != second
}
