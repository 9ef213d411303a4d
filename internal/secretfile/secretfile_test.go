package secretfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lockerd/lockerd/internal/secretfile"
)

// A secret file owned by a third user is refused for a non-root program; its own
// files and root's pass, and root trusts any owner. Changing a file's owner needs
// root, which the CI runs as; elsewhere the test says so and skips, unless CI=true.
func TestOwnerOK(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root; this test needs to chown files")
		}
		t.Skip("needs root to chown files")
	}
	dir := t.TempDir()
	file := func(uid int) os.FileInfo {
		p := filepath.Join(dir, "f")
		os.Remove(p)
		if err := os.WriteFile(p, []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	const service, other = 4242, 4343
	for _, tt := range []struct {
		name      string
		owner, me int
		want      bool
	}{
		{"own file", service, service, true},
		{"root's file", 0, service, true},
		{"another user's file", other, service, false},
		{"root reads anyone's", other, 0, true},
	} {
		owner, ok := secretfile.OwnerOK(file(tt.owner), tt.me)
		if ok != tt.want || int(owner) != tt.owner {
			t.Errorf("%s: OwnerOK(owner %d, me %d) = %d, %v; want %d, %v", tt.name, tt.owner, tt.me, owner, ok, tt.owner, tt.want)
		}
	}
}
