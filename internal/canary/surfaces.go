package canary

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// DirOptions configure a Dir surface.
type DirOptions struct {
	// Require names files (paths relative to the directory, slash-separated) the
	// scan must read.
	Require []string
	// Planters plant a value into the file they are keyed by (relative path) the way
	// its writer stores data (a bbolt Put into a database). Every other file gets the
	// value appended, in the next form of Forms.
	Planters map[string]func(path, value string) error
}

// Dir returns a surface over every regular file under root, at any depth, whatever
// its name: a leak lands in the file nobody thought of. Items are named by their path
// relative to root. Sockets, pipes and symbolic links are not read; an unreadable
// file is an error, not a skip.
func Dir(name string, kind Kind, root string, o DirOptions) Surface {
	files := func() ([]string, error) {
		var out []string
		err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.Type().IsRegular() {
				out = append(out, path)
			}
			return nil
		})
		return out, err
	}
	rel := func(path string) string {
		r, err := filepath.Rel(root, path)
		if err != nil {
			return path
		}
		return filepath.ToSlash(r)
	}
	return Surface{
		Name: name, Kind: kind, Require: o.Require,
		Collect: func() ([]Item, error) {
			paths, err := files()
			if err != nil {
				return nil, err
			}
			var items []Item
			for _, p := range paths {
				data, err := os.ReadFile(p)
				if err != nil {
					return items, err
				}
				items = append(items, Item{Name: rel(p), Data: data})
			}
			return items, nil
		},
		Plant: func(value string) ([]string, error) {
			paths, err := files()
			if err != nil {
				return nil, err
			}
			var planted []string
			for i, p := range paths {
				if plant, ok := o.Planters[rel(p)]; ok {
					err = plant(p, value)
				} else {
					err = appendFile(p, Encode(Forms()[i%len(Forms())], value))
				}
				if err != nil {
					return planted, fmt.Errorf("%s: %w", rel(p), err)
				}
				planted = append(planted, rel(p))
			}
			return planted, nil
		},
	}
}

// File returns a surface of one file, such as a log; its one item is named by the
// file's base name. The default Plant appends the value JSON-escaped on a line of
// its own; a log surface should plant through the log's own handler instead.
func File(name string, kind Kind, path string) Surface {
	base := filepath.Base(path)
	return Surface{
		Name: name, Kind: kind, Require: []string{base},
		Collect: func() ([]Item, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			return []Item{{Name: base, Data: data}}, nil
		},
		Plant: func(value string) ([]string, error) {
			return []string{base}, appendFile(path, append(Encode(JSONEscaped, value), '\n'))
		},
	}
}

func appendFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

// Record is a surface fed by the test as things happen: an error string, an answer,
// a message, each added as an item. It is safe for concurrent use.
type Record struct {
	mu    sync.Mutex
	items []Item
}

// Add records one item. data is copied.
func (r *Record) Add(name string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, Item{Name: name, Data: slices.Clone(data)})
}

// Items returns a copy of what was recorded.
func (r *Record) Items() []Item {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items)
}

// Surface returns r as a surface. Its Plant adds an item holding the value in each
// form of Forms, one after the other; a surface whose items come through a real
// channel (a broker, a socket) should plant through that channel instead.
func (r *Record) Surface(name string, kind Kind) Surface {
	return Surface{
		Name: name, Kind: kind,
		Collect: func() ([]Item, error) { return r.Items(), nil },
		Plant: func(value string) ([]string, error) {
			var names []string
			for _, f := range Forms() {
				n := fmt.Sprintf("planted %s", f)
				r.Add(n, append(append([]byte("x "), Encode(f, value)...), " y"...))
				names = append(names, n)
			}
			return names, nil
		},
	}
}
