package privacy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/lockerd/lockerd/internal/secretfile"
)

// Modes of the state directory and of the key files in it.
const (
	dirMode  fs.FileMode = 0o700
	fileMode fs.FileMode = 0o600
	// groupOther are the permission bits that must be clear on the state
	// directory and on key files.
	groupOther fs.FileMode = 0o077
)

// Sentinel errors for key files; compare with errors.Is.
var (
	// ErrInsecurePermissions means the state directory or a key file can be
	// read, written or searched by group or others, or the key file is not
	// a regular file. The daemon refuses to use it rather than fix it,
	// because the key may already have leaked.
	ErrInsecurePermissions = errors.New("privacy: state directory or key file is accessible by group or others")
	// ErrCorrupt means a key file has the wrong size, an unknown magic or
	// version, or a failed integrity check. It is never silently replaced.
	ErrCorrupt = errors.New("privacy: key file is corrupt")
)

// ensureStateDir creates dir with mode 0700 if it is missing and refuses one
// that group or others can access.
func ensureStateDir(dir string) error {
	info, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return fmt.Errorf("privacy: create state directory: %w", err)
		}
		// MkdirAll honours the umask; make the mode exact.
		if err := os.Chmod(dir, dirMode); err != nil {
			return fmt.Errorf("privacy: chmod state directory: %w", err)
		}
		info, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("privacy: stat state directory: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("privacy: state directory %s is not a directory: %w", dir, ErrInsecurePermissions)
	}
	if info.Mode().Perm()&groupOther != 0 {
		return fmt.Errorf("privacy: state directory %s has mode %v, want 0700: %w", dir, info.Mode().Perm(), ErrInsecurePermissions)
	}
	return nil
}

// readKeyFile reads a key file of at most limit bytes. It returns an error
// wrapping fs.ErrNotExist when the file is missing. It does not follow a
// symbolic link and refuses a file that group or others can access, or that belongs
// to neither the running user nor root (running as root, any owner passes).
func readKeyFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("privacy: key file %s is a symbolic link: %w", path, ErrInsecurePermissions)
		}
		return nil, fmt.Errorf("privacy: open key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("privacy: stat key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("privacy: key file %s is not a regular file: %w", path, ErrInsecurePermissions)
	}
	if info.Mode().Perm()&groupOther != 0 {
		return nil, fmt.Errorf("privacy: key file %s has mode %v, want 0600: %w", path, info.Mode().Perm(), ErrInsecurePermissions)
	}
	if owner, ok := secretfile.OwnerOK(info, os.Geteuid()); !ok {
		return nil, fmt.Errorf("privacy: key file %s belongs to uid %d, not to the user lockerd runs as (uid %d) or root: chown it to that user: %w",
			path, owner, os.Geteuid(), ErrInsecurePermissions)
	}
	if info.Size() > limit {
		return nil, fmt.Errorf("privacy: key file %s has %d bytes, more than %d: %w", path, info.Size(), limit, ErrCorrupt)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("privacy: read key file: %w", err)
	}
	return data, nil
}

// writeKeyFile replaces dir/name with data atomically and durably: a temp
// file in the same directory (mode 0600), fsync, rename over the old file,
// fsync of the directory. After the rename the superseded file's blocks are
// overwritten with zeros through a descriptor opened before it, so a removed
// key cannot be read back through the file system (see ADR 0002 for what
// flash wear levelling still keeps).
func writeKeyFile(dir, name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, tempPrefix(name)+"*")
	if err != nil {
		return fmt.Errorf("privacy: create temp key file: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err = tmp.Chmod(fileMode); err != nil {
		return fmt.Errorf("privacy: chmod temp key file: %w", err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("privacy: write temp key file: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("privacy: sync temp key file: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("privacy: close temp key file: %w", err)
	}
	path := filepath.Join(dir, name)
	old, _ := os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err = os.Rename(tmpName, path); err != nil {
		if old != nil {
			old.Close()
		}
		return fmt.Errorf("privacy: rename key file: %w", err)
	}
	if err = syncDir(dir); err != nil {
		if old != nil {
			old.Close()
		}
		return err
	}
	if old != nil {
		// Best effort: the new file is already durable, so a failure here
		// only leaves the old bytes where an unlink would have left them.
		zeroFile(old)
		old.Close()
	}
	return nil
}

// zeroFile overwrites the whole of f with zeros and syncs it.
func zeroFile(f *os.File) {
	info, err := f.Stat()
	if err != nil {
		return
	}
	zeros := make([]byte, info.Size())
	if _, err := f.WriteAt(zeros, 0); err != nil {
		return
	}
	_ = f.Sync()
}

// syncDir fsyncs a directory so that a rename in it is durable.
// syncDir makes a rename in dir durable (a variable so that tests can fail it).
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("privacy: open state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("privacy: sync state directory: %w", err)
	}
	return nil
}

func tempPrefix(name string) string { return "." + name + ".tmp-" }

// removeStaleTemps deletes temp files a crash left behind. They may hold key
// material that was never put into use.
// Only the owner of the state directory may call it, when it opens a file.
func removeStaleTemps(dir, name string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(name)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// EnsureKeyDir creates dir (0700) if it is missing and refuses one that group or
// others can access (an error wrapping ErrInsecurePermissions): for a key store
// backend's own directory inside the state directory.
func EnsureKeyDir(dir string) error { return ensureStateDir(dir) }

// ReadKeyFile reads a key file of at most limit bytes with the checks of the
// locker's own key files: no symbolic link, a regular file, no access for group
// or others, owned by the running user or root. A missing file is an error
// wrapping fs.ErrNotExist.
func ReadKeyFile(path string, limit int64) ([]byte, error) { return readKeyFile(path, limit) }

// WriteKeyFile replaces dir/name with data (mode 0600) atomically and durably,
// and overwrites the superseded file with zeros, as the locker's own key files
// are written. Temp files a crash left behind are removed first.
func WriteKeyFile(dir, name string, data []byte) error {
	removeStaleTemps(dir, name)
	return writeKeyFile(dir, name, data)
}

// ShredFile overwrites the file at path with zeros, syncs it, removes it and
// syncs its directory: for a plaintext secret that a key store has taken in.
// What flash wear levelling keeps of the old blocks is out of reach (ADR 0002).
// A missing file is not an error.
func ShredFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("privacy: shred %s: %w", path, err)
	}
	zeroFile(f)
	f.Close()
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("privacy: shred %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}
