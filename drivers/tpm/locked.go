package tpm

import (
	"golang.org/x/sys/unix"
)

// lockedKey holds 32-byte secrets (slots) in memory of its own, outside the Go heap (an
// anonymous mapping the collector never copies) and mlock'd so that it is never
// written to swap, where the platform allows (RLIMIT_MEMLOCK; systemd's default
// is 8 MiB, far more than a few keys). free clears it.
type lockedKey struct {
	mem    []byte // the whole mapping, one page
	locked bool
}

func newLockedKey() (*lockedKey, error) {
	mem, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	k := &lockedKey{mem: mem}
	k.locked = unix.Mlock(mem) == nil
	// Best effort: keep it out of core dumps too.
	_ = unix.Madvise(mem, unix.MADV_DONTDUMP)
	return k, nil
}

// key is the secret: the first 32 bytes of the mapping.
func (k *lockedKey) key() *[32]byte { return k.slot(0) }

// slot is the i-th 32-byte secret of the mapping (a page holds 128).
func (k *lockedKey) slot(i int) *[32]byte { return (*[32]byte)(k.mem[32*i : 32*i+32]) }

func (k *lockedKey) free() {
	if k == nil || k.mem == nil {
		return
	}
	clear(k.mem)
	if k.locked {
		_ = unix.Munlock(k.mem)
	}
	_ = unix.Munmap(k.mem)
	k.mem = nil
}
