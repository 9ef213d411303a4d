package firmware

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Integrity is what lockerd can tell about its own executable at start
// (docs/field.md, "Binary integrity"). It cannot prove that the code running is the
// code released — a replaced build can print any digest it likes — but it catches the
// replacements that need no root: an executable, or a directory above it, that the
// service user or anyone but root may write, on a root file system that is not
// read-only. The digest goes to the start log, so that a fleet comparing it with its
// release manifest notices an accidental or naive swap.
type Integrity struct {
	Path     string // the executable, symbolic links resolved
	SHA256   string // hex digest of its bytes
	ReadOnly bool   // its file system is mounted read-only (dm-verity, overlay lower layer)
	// Findings are the ways the executable could be replaced without root, one sentence
	// each with the fix; empty on a packaged install.
	Findings []string
}

// CheckIntegrity inspects the running executable, once per process (the simulator
// runs many stations in one).
func CheckIntegrity() (Integrity, error) { return selfCheck() }

var selfCheck = sync.OnceValues(func() (Integrity, error) {
	exe, err := os.Executable()
	if err != nil {
		return Integrity{}, fmt.Errorf("integrity: %w", err)
	}
	return checkIntegrity(exe)
})

func checkIntegrity(exe string) (Integrity, error) {
	path, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return Integrity{}, fmt.Errorf("integrity: %w", err)
	}
	in := Integrity{Path: path}
	f, err := os.Open(path)
	if err != nil {
		return in, fmt.Errorf("integrity: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return in, fmt.Errorf("integrity: reading %s: %w", path, err)
	}
	in.SHA256 = hex.EncodeToString(h.Sum(nil))
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err == nil {
		in.ReadOnly = fs.Flags&unix.ST_RDONLY != 0
	}
	// The executable and every directory up to / (a writable directory lets its
	// writer rename the file away and put another in its place).
	for p := path; ; p = filepath.Dir(p) {
		if finding := replaceableBy(p); finding != "" {
			in.Findings = append(in.Findings, finding)
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	return in, nil
}

// replaceableBy says how p could be changed by someone other than root, or "".
func replaceableBy(p string) string {
	st, err := os.Lstat(p)
	if err != nil {
		return fmt.Sprintf("%s: %v", p, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	kind := "file"
	if st.IsDir() {
		kind = "directory"
	}
	switch {
	case sys.Uid != 0:
		return fmt.Sprintf("%s %s is owned by uid %d, not root: its owner can replace lockerd (chown root:root %s)", kind, p, sys.Uid, p)
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Sprintf("%s %s is writable by group or others (mode %#o): chmod go-w %s", kind, p, st.Mode().Perm(), p)
	}
	return ""
}

// logIntegrity logs what CheckIntegrity found: the digest at info, each finding as a
// warning (lockerd runs on: a development tree is writable by its developer).
func logIntegrity(log *slog.Logger) {
	in, err := CheckIntegrity()
	if err != nil {
		log.Warn("integrity: executable not checked", "err", err)
		return
	}
	log.Info("executable", "path", in.Path, "sha256", in.SHA256, "read_only_fs", in.ReadOnly)
	for _, f := range in.Findings {
		log.Warn("integrity: " + f)
	}
}
