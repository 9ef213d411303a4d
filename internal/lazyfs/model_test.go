package lazyfs

import (
	"bytes"
	"syscall"
	"testing"
)

// The file data model, without FUSE: these run everywhere.

func contents(n *inode) []byte {
	buf := make([]byte, n.live.size)
	return buf[:n.read(buf, 0)]
}

func TestModelWriteReadTruncate(t *testing.T) {
	f := New()
	n := f.newInode(syscall.S_IFREG | 0o600)
	n.write([]byte("hello"), pageSize-2) // across a page boundary, after a hole
	want := append(make([]byte, pageSize-2), "hello"...)
	if got := contents(n); !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, want %d: %q", len(got), len(want), got[pageSize-4:])
	}
	n.truncate(pageSize) // keeps "he", drops "llo"
	n.truncate(pageSize + 3)
	want = append(append(make([]byte, pageSize-2), "he"...), 0, 0, 0)
	if got := contents(n); !bytes.Equal(got, want) {
		t.Fatalf("after shrink and grow: tail %q, want %q", got[pageSize-2:], want[pageSize-2:])
	}
}

func TestModelSyncSharesNoPages(t *testing.T) {
	f := New()
	n := f.newInode(syscall.S_IFREG | 0o600)
	f.root.live.entries["a"] = n
	f.sync(f.root)
	n.write([]byte("synced"), 0)
	f.sync(n)
	n.write([]byte("SY"), 0) // must not reach the durable copy through a shared page
	n.truncate(3)
	f.Cut()
	if got := string(contents(n)); got != "synced" {
		t.Fatalf("after cut: %q, want %q", got, "synced")
	}
	if s := f.Stats(); s.Cuts != 1 || s.LostFiles != 1 || s.FileSyncs != 1 || s.DirSyncs != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestModelCutForgetsUnreachable(t *testing.T) {
	f := New()
	d := f.newInode(syscall.S_IFDIR | 0o700)
	f.root.live.entries["d"] = d
	f.sync(f.root) // "d" is durable, its contents are not
	d.live.entries["x"] = f.newInode(syscall.S_IFREG | 0o600)
	f.sync(d.live.entries["x"])
	f.Cut()
	if len(d.live.entries) != 0 {
		t.Fatalf("d holds %v after a cut, want nothing (its entries were never synced)", d.live.entries)
	}
	if _, ok := f.root.live.entries["d"]; !ok {
		t.Fatal("synced entry d lost")
	}
}
