// Package secretfile holds the one rule for who may own a file of secrets that lockerd
// or lockerctl reads (key files, the broker password, the TLS client key): the user
// the program runs as, or root. Whoever else owns such a file can read and replace it.
// The callers word the refusal (locker/privacy, mqtt/clientconf).
package secretfile

import (
	"io/fs"
	"syscall"
)

// OwnerOK reports whether a program running as uid me may trust a secret file with
// this FileInfo, and the file's owner. Running as root, any owner passes (root reads
// everything anyway); so does a FileInfo without a Unix owner. Credentials that systemd
// hands over with LoadCredential= belong to root or the service's user, and pass.
func OwnerOK(fi fs.FileInfo, me int) (owner uint32, ok bool) {
	st, isUnix := fi.Sys().(*syscall.Stat_t)
	if !isUnix {
		return 0, true
	}
	return st.Uid, me == 0 || int(st.Uid) == me || st.Uid == 0
}
