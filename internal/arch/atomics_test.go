package arch

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"
)

// On 32-bit ARM a 64-bit atomic operation on a word that is not 8-byte aligned
// panics, and the compiler aligns a plain int64 field only to 4 bytes there. The typed
// atomics (atomic.Int64, atomic.Uint64) are aligned to 8 on every architecture: the
// code uses only those (TestNoAtomicFunctionsOn64BitWords).

type plain struct {
	_ bool  // a word before the 64-bit field
	n int64 // offset 4 on arm and 386, 8 on 64-bit
}

type typed struct {
	_ bool         // a word before the 64-bit field
	n atomic.Int64 // offset 8 everywhere
}

func TestTypedAtomicsAligned(t *testing.T) {
	if off := unsafe.Offsetof(typed{}.n); off%8 != 0 {
		t.Fatalf("atomic.Int64 at offset %d on %s", off, runtime.GOARCH)
	}
	var ts [3]typed // in an array too: every element's field is aligned
	for i := range ts {
		if addr := uintptr(unsafe.Pointer(&ts[i].n)); addr%8 != 0 {
			t.Fatalf("element %d: atomic.Int64 at %#x", i, addr)
		}
		ts[i].n.Add(1 << 40)
	}
	// What the rule above guards against, shown: a plain int64 after a bool.
	off := unsafe.Offsetof(plain{}.n)
	if word := unsafe.Sizeof(uintptr(0)); word == 4 && off != 4 || word == 8 && off != 8 {
		t.Fatalf("plain int64 at offset %d with a %d-byte word", off, word)
	}
	if off%8 != 0 {
		var ps [2]plain
		p := &ps[0]
		if uintptr(unsafe.Pointer(&p.n))%8 == 0 {
			p = &ps[1] // arrays of 12-byte structs: one of two is misaligned
		}
		defer func() {
			if recover() == nil {
				t.Fatalf("a 64-bit atomic add on a misaligned word did not panic on %s", runtime.GOARCH)
			}
		}()
		atomic.AddInt64(&p.n, 1)
	}
}

// TestNoAtomicFunctionsOn64BitWords: nowhere does the module call the function forms of
// the 64-bit atomics (atomic.AddInt64(&s.n, 1)), whose operand the compiler does not
// align on 32-bit platforms.
func TestNoAtomicFunctionsOn64BitWords(t *testing.T) {
	root := moduleRoot(t)
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != root) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "internal/arch/atomics_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		name := atomicImport(f)
		if name == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == name &&
				(strings.HasSuffix(sel.Sel.Name, "Int64") || strings.HasSuffix(sel.Sel.Name, "Uint64")) &&
				sel.Sel.Name != "Int64" && sel.Sel.Name != "Uint64" {
				t.Errorf("%s: %s.%s: use atomic.Int64/atomic.Uint64, which are aligned on 32-bit ARM", fset.Position(sel.Pos()), name, sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read %d Go files under %s: not the module", files, root)
	}
}

// atomicImport is the name sync/atomic has in f, "" if f does not import it.
func atomicImport(f *ast.File) string {
	for _, imp := range f.Imports {
		if imp.Path.Value == `"sync/atomic"` {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return "atomic"
		}
	}
	return ""
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package")
		}
		dir = parent
	}
}
