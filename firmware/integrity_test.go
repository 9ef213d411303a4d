package firmware

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/internal/testenv"
)

// TestCheckIntegrity: the digest is the executable's, and each way a non-root user
// could replace it is named with its fix — a group-writable directory above it, a
// world-writable file, a file owned by another user — while a root-owned 0755 chain
// has none. Run as root (CI is): the test chowns.
func TestCheckIntegrity(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (the test chowns its files)")
	}
	root := t.TempDir()
	// t.TempDir's parents (/tmp is 1777) are themselves findings: judge only what is
	// under root by counting the findings that name it.
	dir := filepath.Join(root, "usr", "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "lockerd")
	body := []byte("#!/bin/false\n")
	if err := os.WriteFile(exe, body, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "lockerd-link")
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	ours := func(in Integrity) []string {
		var out []string
		for _, f := range in.Findings {
			if strings.Contains(f, root) {
				out = append(out, f)
			}
		}
		return out
	}
	in, err := checkIntegrity(link)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if in.Path != exe || in.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("got %s %s, want %s and the file's digest", in.Path, in.SHA256, exe)
	}
	if f := ours(in); len(f) != 0 {
		t.Fatalf("a root-owned 0755 chain: findings %q", f)
	}
	for _, tc := range []struct {
		name  string
		setup func() error
		want  string
	}{
		{"group-writable directory", func() error { return os.Chmod(dir, 0o775) }, "directory " + dir + " is writable by group or others (mode 0775): chmod go-w " + dir},
		{"world-writable file", func() error { return os.Chmod(exe, 0o757) }, "file " + exe + " is writable by group or others (mode 0757): chmod go-w " + exe},
		{"file owned by the service user", func() error { return os.Chown(exe, 996, 0) }, "file " + exe + " is owned by uid 996, not root: its owner can replace lockerd (chown root:root " + exe + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.setup(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o755); os.Chmod(exe, 0o755); os.Chown(exe, 0, 0) })
			in, err := checkIntegrity(exe)
			if err != nil {
				t.Fatal(err)
			}
			if f := ours(in); len(f) != 1 || f[0] != tc.want {
				t.Fatalf("findings %q, want exactly %q", f, tc.want)
			}
		})
	}
}
