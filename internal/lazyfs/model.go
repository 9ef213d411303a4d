// Package lazyfs is a test filesystem that loses what was not fsync'd, in the manner
// of Jepsen's LazyFS. It keeps every file and directory in memory twice: as the
// running programs see it, and as a disk would hold it after a power cut. Writes,
// creates, renames and unlinks change only the first; fsync (or fdatasync) of a file
// copies that file's data and attributes to the second, fsync of a directory copies its
// entries. Cut throws the first away and starts again from the second, so a store that
// never fsyncs, or a rename whose directory is never fsync'd, loses its work as it
// would on a locker whose power fails. It is served over FUSE (see Mount) so that a
// real program in another process can run on it.
package lazyfs

import (
	"maps"
	"sync"
	"syscall"
	"time"
)

// pageSize is the unit in which file data is kept. A page, once stored in a file, is
// never changed in place: a write stores a new copy, so that the durable view can
// share pages with the live one and a sync costs a map copy, not a data copy.
const pageSize = 4096

type page [pageSize]byte

// content is one view of an inode: what programs see now, or what survives a cut.
type content struct {
	mode    uint32 // type and permission bits
	size    int64
	pages   map[int64]*page   // regular files: page index -> data; a missing page is zeros
	entries map[string]*inode // directories: name -> child
	mtime   time.Time
}

func (c content) clone() content {
	c.pages = maps.Clone(c.pages)
	c.entries = maps.Clone(c.entries)
	return c
}

// inode is a file or directory. An inode outlives its names: a file renamed over
// keeps its data for whoever still has it open, and a cut that undoes the rename
// brings it back with whatever of that data was synced.
type inode struct {
	ino   uint64
	live  content
	disk  content
	dirty bool // live differs from disk
}

func (n *inode) isDir() bool { return n.live.mode&syscall.S_IFMT == syscall.S_IFDIR }

// Stats count what the filesystem was asked to do and what cuts threw away.
type Stats struct {
	FileSyncs int // fsync or fdatasync of a regular file
	DirSyncs  int // fsync of a directory
	Cuts      int
	// LostFiles and LostDirs count, over all cuts, the surviving files whose data or
	// attributes and the surviving directories whose entries went back to their last
	// sync (a file or directory whose name was never synced is gone and not counted).
	LostFiles int
	LostDirs  int
}

// FS is the filesystem's state. It is safe for concurrent use.
type FS struct {
	mu      sync.Mutex
	root    *inode
	nextIno uint64
	stats   Stats
}

// New returns an empty filesystem whose root directory has mode 0700, already durable.
func New() *FS {
	f := &FS{nextIno: 2}
	f.root = &inode{ino: 1, live: content{mode: syscall.S_IFDIR | 0o700, entries: map[string]*inode{}, mtime: time.Now()}}
	f.root.disk = f.root.live.clone()
	return f
}

// Stats returns the counts so far.
func (f *FS) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Cut is a power cut: every file and directory goes back to what its last sync made
// durable, and what is no longer reachable through durable directory entries is gone.
// Unmount first (Server.Unmount): the kernel's caches would still show the old state.
func (f *FS) Cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats.Cuts++
	seen := map[*inode]bool{}
	var walk func(n *inode)
	walk = func(n *inode) {
		if seen[n] {
			return
		}
		seen[n] = true
		if n.dirty {
			if n.isDir() {
				f.stats.LostDirs++
			} else {
				f.stats.LostFiles++
			}
		}
		n.live, n.dirty = n.disk.clone(), false
		for _, c := range n.live.entries {
			walk(c)
		}
	}
	walk(f.root)
}

// newInode makes an inode whose durable view is empty: if its name becomes durable
// before its data does, a cut leaves an empty file, as on a journalling filesystem.
func (f *FS) newInode(mode uint32) *inode {
	n := &inode{ino: f.nextIno, live: content{mode: mode, mtime: time.Now()}, dirty: true}
	f.nextIno++
	if mode&syscall.S_IFMT == syscall.S_IFDIR {
		n.live.entries = map[string]*inode{}
	} else {
		n.live.pages = map[int64]*page{}
	}
	n.disk = n.live.clone()
	return n
}

// sync makes n's live view durable: data and attributes of a file, entries of a
// directory. Nothing else: a file's own name is its directory's to sync.
func (f *FS) sync(n *inode) {
	if n.isDir() {
		f.stats.DirSyncs++
	} else {
		f.stats.FileSyncs++
	}
	n.disk, n.dirty = n.live.clone(), false
}

func (n *inode) touch() {
	n.live.mtime, n.dirty = time.Now(), true
}

// read copies the file's bytes at off into dest and returns how many it copied.
func (n *inode) read(dest []byte, off int64) int {
	if off >= n.live.size {
		return 0
	}
	dest = dest[:min(int64(len(dest)), n.live.size-off)]
	for done := 0; done < len(dest); {
		pos := off + int64(done)
		idx, in := pos/pageSize, int(pos%pageSize)
		var c int
		if p := n.live.pages[idx]; p != nil {
			c = copy(dest[done:], p[in:])
		} else {
			c = copy(dest[done:], make([]byte, pageSize-in))
		}
		done += c
	}
	return len(dest)
}

// write stores data at off, copying each page it changes.
func (n *inode) write(data []byte, off int64) {
	for done := 0; done < len(data); {
		pos := off + int64(done)
		idx, in := pos/pageSize, int(pos%pageSize)
		p := new(page)
		if old := n.live.pages[idx]; old != nil {
			*p = *old
		}
		done += copy(p[in:], data[done:])
		n.live.pages[idx] = p
	}
	if end := off + int64(len(data)); end > n.live.size {
		n.live.size = end
	}
	n.touch()
}

// truncate sets the file's size; bytes past it read as zeros if it grows again.
func (n *inode) truncate(size int64) {
	if size < n.live.size {
		for idx := range n.live.pages {
			if idx*pageSize >= size {
				delete(n.live.pages, idx)
			}
		}
		if in := size % pageSize; in != 0 {
			if old := n.live.pages[size/pageSize]; old != nil {
				p := *old
				clear(p[in:])
				n.live.pages[size/pageSize] = &p
			}
		}
	}
	n.live.size = size
	n.touch()
}
