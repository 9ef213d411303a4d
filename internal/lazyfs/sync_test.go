//go:build linux && (amd64 || arm64)

package lazyfs_test

import (
	"os"
	"syscall"
)

func fdatasyncFile(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
