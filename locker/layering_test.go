package locker

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// concerns are the domain's subpackages that hold one concern each (ADR 0062), with
// the packages under locker/ each may import: the vocabulary (model, policy, store,
// privacy) and, where a concern is built on another's values, that one. A new concern
// is added here with what it needs.
var concerns = map[string][]string{
	"model":    {"privacy", "store"},
	"policy":   {},
	"gate":     {"model", "policy", "store"},
	"courier":  {"gate", "privacy", "store"},
	"lookup":   {"model", "privacy", "store"},
	"announce": {"model", "policy", "privacy", "store"},
	"door":     {"model", "policy", "privacy"},
	"expiry":   {"clock", "model", "policy", "store"},
	"eventlog": {"model", "store"},
	"session":  {"courier", "model", "privacy"},
	"subject":  {"courier", "model", "privacy", "store"},
}

// below are the packages under locker/ the domain is built on, which import no
// concern; a package in neither list fails TestLayering until it is placed.
var below = []string{"privacy", "waybill", "audit", "clock", "store", "store/boltstore"}

// TestLayering holds the domain to its place in the one-way imports (architecture §4,
// docs/adr/0062-domain-in-subpackages.md): locker and its subpackages import no driver,
// transport, storage engine or daemon, a subpackage never imports the Station's
// package, a concern imports only the packages concerns names for it, and no file of
// the domain grows past 500 lines.
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
		if sub, ok := strings.CutPrefix(pkg, root+"/"); ok && concerns[sub] == nil && !slices.Contains(below, sub) {
			t.Errorf("%s is neither a concern nor below them: add it to concerns or below", pkg)
		}
		for _, imp := range strings.Fields(imports) {
			if imp == root && pkg != root {
				t.Errorf("%s imports the Station's package: imports go one way", pkg)
			}
			sub, _ := strings.CutPrefix(pkg, root+"/")
			dep, inside := strings.CutPrefix(imp, root+"/")
			if allowed, ok := concerns[sub]; ok && inside && !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s: a concern builds on the vocabulary, not on a sibling concern", pkg, imp)
			}
			if slices.Contains(below, sub) && inside && concerns[dep] != nil {
				t.Errorf("%s imports the concern %s: the packages below the concerns import none", pkg, imp)
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
