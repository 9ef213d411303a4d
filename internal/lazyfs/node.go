// go-fuse does not build for 32-bit arm (its splice package), and the tests run on
// 64-bit machines only.

//go:build linux && (amd64 || arm64)

package lazyfs

import (
	"context"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node serves one inode over FUSE. It keeps no file handles: every operation goes to
// the inode, which is all an in-memory file needs.
type node struct {
	fs.Inode
	fs *FS
	in *inode
}

var (
	_ fs.NodeLookuper  = (*node)(nil)
	_ fs.NodeGetattrer = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeReader    = (*node)(nil)
	_ fs.NodeWriter    = (*node)(nil)
	_ fs.NodeFsyncer   = (*node)(nil)
	_ fs.NodeFlusher   = (*node)(nil)
	_ fs.NodeAllocater = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeMkdirer   = (*node)(nil)
	_ fs.NodeUnlinker  = (*node)(nil)
	_ fs.NodeRmdirer   = (*node)(nil)
	_ fs.NodeRenamer   = (*node)(nil)
	_ fs.NodeReaddirer = (*node)(nil)
	_ fs.NodeOpendirer = (*node)(nil)
	_ fs.NodeStatfser  = (*node)(nil)
)

// fillAttr describes in; the caller holds the lock.
func fillAttr(in *inode, a *fuse.Attr) {
	a.Ino = in.ino
	a.Mode = in.live.mode
	a.Size = uint64(in.live.size)
	a.Blocks = (a.Size + 511) / 512
	a.Blksize = pageSize
	a.Nlink = 1
	if in.isDir() {
		a.Nlink = 2
	}
	a.Owner = fuse.Owner{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	a.SetTimes(&in.live.mtime, &in.live.mtime, &in.live.mtime)
}

// child wraps in as a child inode of n for go-fuse; the caller holds the lock.
func (n *node) child(ctx context.Context, in *inode, out *fuse.EntryOut) *fs.Inode {
	fillAttr(in, &out.Attr)
	return n.NewInode(ctx, &node{fs: n.fs, in: in}, fs.StableAttr{Mode: in.live.mode & syscall.S_IFMT, Ino: in.ino})
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	c, ok := n.in.live.entries[name]
	if !ok {
		return nil, syscall.ENOENT
	}
	return n.child(ctx, c, out), 0
}

func (n *node) Getattr(_ context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	fillAttr(n.in, &out.Attr)
	return 0
}

func (n *node) Setattr(_ context.Context, _ fs.FileHandle, set *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	if mode, ok := set.GetMode(); ok {
		n.in.live.mode = n.in.live.mode&syscall.S_IFMT | mode&^syscall.S_IFMT
		n.in.touch()
	}
	if size, ok := set.GetSize(); ok {
		if n.in.isDir() {
			return syscall.EISDIR
		}
		n.in.truncate(int64(size))
	}
	if mtime, ok := set.GetMTime(); ok {
		n.in.live.mtime, n.in.dirty = mtime, true
	}
	fillAttr(n.in, &out.Attr)
	return 0
}

func (n *node) Open(_ context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		n.fs.mu.Lock()
		n.in.truncate(0)
		n.fs.mu.Unlock()
	}
	return nil, 0, 0
}

func (n *node) Read(_ context.Context, _ fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	return fuse.ReadResultData(dest[:n.in.read(dest, off)]), 0
}

func (n *node) Write(_ context.Context, _ fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	n.in.write(data, off)
	return uint32(len(data)), 0
}

// Fsync serves fsync and fdatasync of files and fsync of directories alike: either
// makes this inode durable, and only this inode.
func (n *node) Fsync(context.Context, fs.FileHandle, uint32) syscall.Errno {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	n.fs.sync(n.in)
	return 0
}

func (n *node) Flush(context.Context, fs.FileHandle) syscall.Errno { return 0 }

// Allocate grows the file for fallocate without FALLOC_FL_KEEP_SIZE; the space itself
// is not reserved (memory is allocated on write).
func (n *node) Allocate(_ context.Context, _ fs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	if mode != 0 && mode != 1 { // 1: FALLOC_FL_KEEP_SIZE
		return syscall.EOPNOTSUPP
	}
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	if end := int64(off + size); mode == 0 && end > n.in.live.size {
		n.in.truncate(end)
	}
	return 0
}

// add links a new inode under name; the caller holds the lock.
func (n *node) add(name string, mode uint32) (*inode, syscall.Errno) {
	if _, ok := n.in.live.entries[name]; ok {
		return nil, syscall.EEXIST
	}
	c := n.fs.newInode(mode)
	n.in.live.entries[name] = c
	n.in.touch()
	return c, 0
}

func (n *node) Create(ctx context.Context, name string, _ uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	c, errno := n.add(name, syscall.S_IFREG|mode&0o7777)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return n.child(ctx, c, out), nil, 0, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	c, errno := n.add(name, syscall.S_IFDIR|mode&0o7777)
	if errno != 0 {
		return nil, errno
	}
	return n.child(ctx, c, out), 0
}

// remove unlinks name if it is a directory (dir) or not; the caller holds the lock.
func (n *node) remove(name string, dir bool) syscall.Errno {
	c, ok := n.in.live.entries[name]
	switch {
	case !ok:
		return syscall.ENOENT
	case dir && !c.isDir():
		return syscall.ENOTDIR
	case !dir && c.isDir():
		return syscall.EISDIR
	case dir && len(c.live.entries) > 0:
		return syscall.ENOTEMPTY
	}
	delete(n.in.live.entries, name)
	n.in.touch()
	return 0
}

func (n *node) Unlink(_ context.Context, name string) syscall.Errno {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	return n.remove(name, false)
}

func (n *node) Rmdir(_ context.Context, name string) syscall.Errno {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	return n.remove(name, true)
}

// renameNoReplace is RENAME_NOREPLACE; RENAME_EXCHANGE and RENAME_WHITEOUT are refused.
const renameNoReplace = 1

func (n *node) Rename(_ context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	to, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	if flags&^renameNoReplace != 0 {
		return syscall.EINVAL
	}
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	c, ok := n.in.live.entries[name]
	if !ok {
		return syscall.ENOENT
	}
	if old, ok := to.in.live.entries[newName]; ok {
		switch {
		case old == c:
			return 0
		case flags&renameNoReplace != 0:
			return syscall.EEXIST
		case c.isDir() && !old.isDir():
			return syscall.ENOTDIR
		case !c.isDir() && old.isDir():
			return syscall.EISDIR
		case old.isDir() && len(old.live.entries) > 0:
			return syscall.ENOTEMPTY
		}
	}
	delete(n.in.live.entries, name)
	to.in.live.entries[newName] = c
	n.in.touch()
	to.in.touch()
	return 0
}

func (n *node) Opendir(context.Context) syscall.Errno {
	if !n.in.isDir() {
		return syscall.ENOTDIR
	}
	return 0
}

func (n *node) Readdir(context.Context) (fs.DirStream, syscall.Errno) {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	list := make([]fuse.DirEntry, 0, len(n.in.live.entries))
	for name, c := range n.in.live.entries {
		list = append(list, fuse.DirEntry{Name: name, Mode: c.live.mode, Ino: c.ino})
	}
	slices.SortFunc(list, func(a, b fuse.DirEntry) int { return strings.Compare(a.Name, b.Name) })
	return fs.NewListDirStream(list), 0
}

// Statfs reports a roomy disk, so that a program checking free space goes on.
func (n *node) Statfs(_ context.Context, out *fuse.StatfsOut) syscall.Errno {
	out.Bsize, out.Frsize, out.NameLen = pageSize, pageSize, 255
	out.Blocks, out.Bfree, out.Bavail = 1<<20, 1<<19, 1<<19
	out.Files, out.Ffree = 1<<20, 1<<19
	return 0
}

// entryTimeout is how long the kernel may cache names and attributes. Only this
// filesystem changes them, and a cut happens while unmounted, so caching is safe.
const entryTimeout = time.Second
