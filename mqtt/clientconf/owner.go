package clientconf

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// CheckOwner refuses a secret file that belongs to neither the running user nor root:
// whoever owns it can read it and replace it. Running as root, any owner passes (root
// reads everything anyway). Credentials that systemd hands over with LoadCredential=
// belong to root or the service's user, and pass.
func CheckOwner(path string, fi fs.FileInfo) error { return checkOwner(path, fi, os.Geteuid()) }

func checkOwner(path string, fi fs.FileInfo, me int) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if me == 0 || int(st.Uid) == me || st.Uid == 0 {
		return nil
	}
	return fmt.Errorf("%s belongs to uid %d, not to the user this runs as (uid %d) or root: chown it to that user "+
		"(e.g. chown lockerd: %s; chmod 600 %s), or hand it over with systemd LoadCredential=", path, st.Uid, me, path, path)
}
