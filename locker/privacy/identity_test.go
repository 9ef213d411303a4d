package privacy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestLoadOrCreateIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "nested")
	old := setUmask(0)
	first, err := LoadOrCreateIdentity(dir)
	setUmask(old)
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, dir, fs.ModeDir|0o700)
	assertMode(t, filepath.Join(dir, IdentityFile), 0o600)

	again, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Public() != first.Public() || again.private != first.private {
		t.Fatal("reloaded identity differs from the created one")
	}
	other, err := LoadOrCreateIdentity(newStateDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if other.Public() == first.Public() {
		t.Fatal("two state directories got the same identity")
	}
}

func TestLoadOrCreateIdentityRefuses(t *testing.T) {
	valid := func(t *testing.T, dir string) {
		t.Helper()
		if _, err := LoadOrCreateIdentity(dir); err != nil {
			t.Fatal(err)
		}
	}
	path := func(dir string) string { return filepath.Join(dir, IdentityFile) }
	rewrite := func(t *testing.T, dir string, edit func([]byte) []byte) {
		t.Helper()
		b, err := os.ReadFile(path(dir))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path(dir), edit(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  error
	}{
		{"world-readable key file", func(t *testing.T, dir string) {
			valid(t, dir)
			chmod(t, path(dir), 0o604)
		}, ErrInsecurePermissions},
		{"group-readable key file", func(t *testing.T, dir string) {
			valid(t, dir)
			chmod(t, path(dir), 0o640)
		}, ErrInsecurePermissions},
		{"group-readable dir", func(t *testing.T, dir string) {
			valid(t, dir)
			chmod(t, dir, 0o750)
		}, ErrInsecurePermissions},
		{"world-searchable dir, no key yet", func(t *testing.T, dir string) {
			chmod(t, dir, 0o701)
		}, ErrInsecurePermissions},
		{"symlinked key file", func(t *testing.T, dir string) {
			target := filepath.Join(t.TempDir(), "elsewhere")
			if err := os.WriteFile(target, make([]byte, identityFileLen), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path(dir)); err != nil {
				t.Fatal(err)
			}
		}, ErrInsecurePermissions},
		{"key file is a directory", func(t *testing.T, dir string) {
			if err := os.Mkdir(path(dir), 0o700); err != nil {
				t.Fatal(err)
			}
		}, ErrInsecurePermissions},
		{"empty file", func(t *testing.T, dir string) {
			valid(t, dir)
			rewrite(t, dir, func([]byte) []byte { return nil })
		}, ErrCorrupt},
		{"truncated", func(t *testing.T, dir string) {
			valid(t, dir)
			rewrite(t, dir, func(b []byte) []byte { return b[:len(b)-1] })
		}, ErrCorrupt},
		{"too long", func(t *testing.T, dir string) {
			valid(t, dir)
			rewrite(t, dir, func(b []byte) []byte { return append(b, 0) })
		}, ErrCorrupt},
		{"raw 32-byte key", func(t *testing.T, dir string) {
			valid(t, dir)
			rewrite(t, dir, func(b []byte) []byte { return b[5:37] })
		}, ErrCorrupt},
		{"bad magic", func(t *testing.T, dir string) {
			valid(t, dir)
			rewrite(t, dir, func(b []byte) []byte { b[0] = 'X'; return b })
		}, ErrCorrupt},
		{"unknown version", func(t *testing.T, dir string) {
			valid(t, dir)
			rewrite(t, dir, func(b []byte) []byte { b[4] = 2; return b })
		}, ErrCorrupt},
		{"flipped key bit", func(t *testing.T, dir string) {
			valid(t, dir)
			rewrite(t, dir, func(b []byte) []byte { b[10] ^= 1; return b })
		}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newStateDir(t)
			tt.setup(t, dir)
			before, _ := os.ReadFile(path(dir))
			_, err := LoadOrCreateIdentity(dir)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			after, _ := os.ReadFile(path(dir))
			if string(before) != string(after) {
				t.Fatal("a refused key file was modified")
			}
		})
	}
}

func TestLoadOrCreateIdentityRemovesStaleTemp(t *testing.T) {
	dir := newStateDir(t)
	stale := filepath.Join(dir, tempPrefix(IdentityFile)+"123")
	if err := os.WriteFile(stale, []byte("half-written key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateIdentity(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stale temp file still there: %v", err)
	}
}

func TestParsePublicKey(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"vector", vecFleetPublic, true},
		{"short", vecFleetPublic[:62], false},
		{"not hex", "g" + vecFleetPublic[1:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePublicKey(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("error = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrPublicKeyFormat) {
				t.Fatalf("error %v is not ErrPublicKeyFormat", err)
			}
			if tt.ok && k[0] != 0x58 {
				t.Fatalf("key = %x", k)
			}
		})
	}
}

// newStateDir returns an empty directory with mode 0700 (t.TempDir honours
// the umask, which usually leaves it 0755).
func newStateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	chmod(t, dir, 0o700)
	return dir
}

func chmod(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode() & (fs.ModeDir | fs.ModePerm); got != want {
		t.Fatalf("%s has mode %v, want %v", path, got, want)
	}
}

// setUmask sets the process umask and returns the previous one, so a test can
// show that created modes do not depend on it. Tests that use it must not run
// in parallel.
func setUmask(mask int) int { return syscall.Umask(mask) }
