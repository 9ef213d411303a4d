// go-fuse does not build for 32-bit arm (its splice package), and the tests run on
// 64-bit machines only.

//go:build linux && (amd64 || arm64)

package lazyfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/lockerd/lockerd/internal/testenv"
)

// Mount is an FS served over FUSE at a directory.
type Mount struct {
	fs     *FS
	dir    string
	server *fuse.Server
}

// Mount serves f at dir (an existing, empty directory) until Unmount. Programs in
// other processes see it as an ordinary directory; f's root becomes dir.
func (f *FS) Mount(dir string) (*Mount, error) {
	m := &Mount{fs: f, dir: dir}
	if err := m.mount(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Mount) mount() error {
	timeout := entryTimeout
	root := &node{fs: m.fs, in: m.fs.root}
	server, err := fs.Mount(m.dir, root, &fs.Options{EntryTimeout: &timeout, AttrTimeout: &timeout,
		MountOptions: fuse.MountOptions{FsName: "lazyfs", Name: "lazyfs"}})
	if err != nil {
		return fmt.Errorf("lazyfs: mount %s: %w", m.dir, err)
	}
	m.server = server
	return nil
}

// Dir is where the filesystem is mounted.
func (m *Mount) Dir() string { return m.dir }

// FS is the filesystem served.
func (m *Mount) FS() *FS { return m.fs }

// Unmount stops serving. Every program must have closed its files in the mount
// (a killed process has); otherwise the kernel refuses with EBUSY.
func (m *Mount) Unmount() error {
	if m.server == nil {
		return nil
	}
	if err := m.server.Unmount(); err != nil {
		return fmt.Errorf("lazyfs: unmount %s: %w", m.dir, err)
	}
	m.server.Wait()
	m.server = nil
	return nil
}

// PowerCut unmounts, drops everything not synced (FS.Cut) and mounts again at the
// same directory, which then shows what a disk would hold after the power came back.
// Kill the programs using the mount first.
func (m *Mount) PowerCut() error {
	if err := m.Unmount(); err != nil {
		return err
	}
	m.fs.Cut()
	return m.mount()
}

// Available names what FUSE lacks here, or returns nil: it needs /dev/fuse and
// fusermount3 (Debian's fuse3 package).
func Available() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("FUSE (/dev/fuse: %w)", err)
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return fmt.Errorf("fusermount3 (Debian package fuse3; %w)", err)
	}
	return nil
}

// Require skips t when FUSE is missing, except under CI=true, where it fails t
// (internal/testenv): CI installs fuse3, so a missing FUSE there is a broken machine,
// and a power-cut test that skips would pass whatever the code does.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		testenv.Missing(t, err.Error())
	}
}

// MountTemp mounts a new FS at a fresh directory under t.TempDir (after Require) and
// unmounts it when t ends.
func MountTemp(t testing.TB) *Mount {
	t.Helper()
	Require(t)
	dir := t.TempDir() + "/lazyfs"
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	m, err := New().Mount(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v", err)
		}
	})
	return m
}
