package clientconf

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/lockerd/lockerd/internal/secretfile"
)

// CheckOwner refuses a secret file that belongs to neither the running user nor root
// (internal/secretfile has the rule).
func CheckOwner(path string, fi fs.FileInfo) error { return checkOwner(path, fi, os.Geteuid()) }

func checkOwner(path string, fi fs.FileInfo, me int) error {
	owner, ok := secretfile.OwnerOK(fi, me)
	if ok {
		return nil
	}
	return fmt.Errorf("%s belongs to uid %d, not to the user this runs as (uid %d) or root: chown it to that user "+
		"(e.g. chown lockerd: %s; chmod 600 %s), or hand it over with systemd LoadCredential=", path, owner, me, path, path)
}
