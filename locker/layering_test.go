package locker

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayering holds the domain to its place in the one-way imports (architecture §4,
// docs/adr/0062-domain-in-subpackages.md): locker and its subpackages import no driver,
// transport, storage engine or daemon, a subpackage never imports the Station's
// package, and no file of the domain grows past 500 lines.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{"go.etcd.io/bbolt", "github.com/eclipse/paho", "periph.io/",
		"github.com/lockerd/lockerd/drivers", "github.com/lockerd/lockerd/mqtt",
		"github.com/lockerd/lockerd/firmware", "github.com/lockerd/lockerd/sim"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("locker depends on %s", dep)
			}
		}
	}
	out, err = exec.Command("go", "list", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const root = "github.com/lockerd/lockerd/locker"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		for _, imp := range strings.Fields(imports) {
			if imp == root && pkg != root {
				t.Errorf("%s imports the Station's package: imports go one way", pkg)
			}
		}
	}
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if n := bytes.Count(b, []byte("\n")); err == nil && n > 500 {
			t.Errorf("%s has %d lines: over 500, split it by concern", path, n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
