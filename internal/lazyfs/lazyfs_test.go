// go-fuse does not build for 32-bit arm (its splice package), and the tests run on
// 64-bit machines only.

//go:build linux && (amd64 || arm64)

package lazyfs_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/internal/lazyfs"
)

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

// writeFile writes name in dir and, as asked, fsyncs (or fdatasyncs) it.
func writeFile(t *testing.T, path, data string, sync func(*os.File) error) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if sync != nil {
		if err := sync(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func fsync(f *os.File) error     { return f.Sync() }
func fdatasync(f *os.File) error { return fdatasyncFile(f) }

// TestPowerCut runs each case's steps on a mounted lazyfs, cuts the power and
// compares what the files hold then. "old" was written, synced and dir-synced first.
func TestPowerCut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps func(t *testing.T, dir string)
		want  map[string]string // file -> content after the cut; missing means gone
	}{
		{"write not synced is lost", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "old"), "new data", nil)
		}, map[string]string{"old": "old"}},
		{"fsync keeps the data", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "old"), "new data", fsync)
		}, map[string]string{"old": "new data"}},
		{"fdatasync keeps the data", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "old"), "new data", fdatasync)
		}, map[string]string{"old": "new data"}},
		{"fsync of a new file does not keep its name", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "new"), "x", fsync)
		}, map[string]string{"old": "old"}},
		{"fdatasync of a new file does not keep its name", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "new"), "x", fdatasync)
		}, map[string]string{"old": "old"}},
		{"new file and directory synced", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "new"), "x", fsync)
			syncDir(t, dir)
		}, map[string]string{"old": "old", "new": "x"}},
		{"name synced but not the data: empty file", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "new"), "x", nil)
			syncDir(t, dir)
		}, map[string]string{"old": "old", "new": ""}},
		{"rename without directory sync is undone", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "tmp"), "replacement", fsync)
			if err := os.Rename(filepath.Join(dir, "tmp"), filepath.Join(dir, "old")); err != nil {
				t.Fatal(err)
			}
		}, map[string]string{"old": "old"}},
		{"rename with directory sync stays", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "tmp"), "replacement", fsync)
			if err := os.Rename(filepath.Join(dir, "tmp"), filepath.Join(dir, "old")); err != nil {
				t.Fatal(err)
			}
			syncDir(t, dir)
		}, map[string]string{"old": "replacement"}},
		{"unlink without directory sync is undone", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "old")); err != nil {
				t.Fatal(err)
			}
		}, map[string]string{"old": "old"}},
		{"unlink with directory sync stays", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "old")); err != nil {
				t.Fatal(err)
			}
			syncDir(t, dir)
		}, map[string]string{}},
		{"a file renamed over keeps what its open descriptor synced", func(t *testing.T, dir string) {
			// The key writer's pattern with its directory sync missing: the old file is
			// zeroed through a descriptor opened before the rename, and the cut brings
			// back the old name with those zeros.
			old, err := os.OpenFile(filepath.Join(dir, "old"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			writeFile(t, filepath.Join(dir, "tmp"), "replacement", fsync)
			if err := os.Rename(filepath.Join(dir, "tmp"), filepath.Join(dir, "old")); err != nil {
				t.Fatal(err)
			}
			if _, err := old.WriteAt([]byte{0, 0, 0}, 0); err != nil {
				t.Fatal(err)
			}
			if err := old.Sync(); err != nil {
				t.Fatal(err)
			}
		}, map[string]string{"old": "\x00\x00\x00"}},
		{"truncate not synced is undone", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, "old"), 1); err != nil {
				t.Fatal(err)
			}
		}, map[string]string{"old": "old"}},
		{"mkdir without parent sync is undone", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "sub", "f"), "x", fsync)
			syncDir(t, filepath.Join(dir, "sub"))
		}, map[string]string{"old": "old"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := lazyfs.MountTemp(t)
			writeFile(t, filepath.Join(m.Dir(), "old"), "old", fsync)
			syncDir(t, m.Dir())
			tc.steps(t, m.Dir())
			if err := m.PowerCut(); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			err := filepath.WalkDir(m.Dir(), func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(path)
				rel, _ := filepath.Rel(m.Dir(), path)
				got[rel] = string(b)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("after the cut: %q, want %q", got, tc.want)
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s after the cut: %q, want %q (all: %q)", name, got[name], want, got)
				}
			}
		})
	}
}

// TestMain doubles as the bbolt helper process of TestBoltOnLazyFS: bbolt maps its
// file into memory, and a process must not fault on pages of a FUSE filesystem that
// it serves itself (a garbage collection that stops the server while a thread waits
// on such a fault never ends).
func TestMain(m *testing.M) {
	if op := os.Getenv("LAZYFS_BOLT_HELPER"); op != "" {
		if err := boltHelper(op, os.Getenv("LAZYFS_BOLT_PATH")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// boltHelper commits k=v to a new store at path (op "put" or "put-nosync"), or prints
// the value of k (op "get").
func boltHelper(op, path string) error {
	if op == "get" {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer db.Close()
		return db.View(func(tx *bolt.Tx) error {
			if b := tx.Bucket([]byte("b")); b != nil {
				fmt.Printf("%s", b.Get([]byte("k")))
			}
			return nil
		})
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: op == "put-nosync"})
	if err != nil {
		return err
	}
	defer db.Close()
	d, err := os.Open(filepath.Dir(path)) // the new file's name: bbolt syncs only the file
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
}

func runBoltHelper(t *testing.T, op, path string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LAZYFS_BOLT_HELPER="+op, "LAZYFS_BOLT_PATH="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bolt helper %s: %v: %s", op, err, stderr.Bytes())
	}
	return string(out)
}

// TestBoltOnLazyFS runs bbolt, lockerd's store, on the mount: a committed transaction
// survives a cut, and with NoSync (bbolt never fsyncs) it does not.
func TestBoltOnLazyFS(t *testing.T) {
	for _, op := range []string{"put", "put-nosync"} {
		t.Run(op, func(t *testing.T) {
			m := lazyfs.MountTemp(t)
			path := filepath.Join(m.Dir(), "store.db")
			runBoltHelper(t, op, path)
			if err := m.PowerCut(); err != nil {
				t.Fatal(err)
			}
			got := runBoltHelper(t, "get", path)
			switch {
			case op == "put" && got != "v":
				t.Fatalf("committed value lost at a cut: %q", got)
			case op == "put-nosync" && got != "":
				t.Fatalf("NoSync commit survived a cut (%q): the cut does not drop unsynced data", got)
			}
			if s := m.FS().Stats(); s.Cuts != 1 || s.FileSyncs == 0 || s.DirSyncs != 1 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}
