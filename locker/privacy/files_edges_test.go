package privacy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteKeyFileCleansUpAfterFailure: a key file that cannot be put in place leaves
// no temp file behind, where key material that never came into use would stay on
// flash. Mutation testing (docs/testing.md) found the cleanup unguarded.
func TestWriteKeyFileCleansUpAfterFailure(t *testing.T) {
	dir := newStateDir(t)
	// A non-empty directory where the key file belongs: the rename over it fails.
	if err := os.MkdirAll(filepath.Join(dir, "k", "occupied"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeKeyFile(dir, "k", []byte("key material")); err == nil {
		t.Fatal("a key file was renamed over a directory")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix("k")) {
			t.Fatalf("temp file %s left behind after a failed write", e.Name())
		}
	}
}
