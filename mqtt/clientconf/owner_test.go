package clientconf

import (
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

type ownedBy uint32

func (o ownedBy) Name() string       { return "key" }
func (o ownedBy) Size() int64        { return 1 }
func (o ownedBy) Mode() fs.FileMode  { return 0o600 }
func (o ownedBy) ModTime() time.Time { return time.Time{} }
func (o ownedBy) IsDir() bool        { return false }
func (o ownedBy) Sys() any           { return &syscall.Stat_t{Uid: uint32(o)} }

// TestCheckOwner: a secret file of the running user or root passes; another user's is
// refused with the fix in the message, unless the reader is root, who reads everything.
func TestCheckOwner(t *testing.T) {
	for _, me := range []uint32{1000, 0} {
		if err := checkOwner("/k", ownedBy(me), int(me)); err != nil {
			t.Fatal(err)
		}
		if err := checkOwner("/k", ownedBy(0), int(me)); err != nil {
			t.Fatal(err)
		}
	}
	err := checkOwner("/etc/lockerd/client.key", ownedBy(1001), 1000)
	if err == nil || !strings.Contains(err.Error(), "belongs to uid 1001") || !strings.Contains(err.Error(), "chown") ||
		!strings.Contains(err.Error(), "LoadCredential=") {
		t.Fatalf("another user's file: %v", err)
	}
	if err := checkOwner("/k", ownedBy(1001), 0); err != nil {
		t.Fatalf("as root: %v", err)
	}
	if err := CheckOwner("/k", ownedBy(uint32(os.Geteuid()))); err != nil {
		t.Fatal(err)
	}
}
