package canary

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeT records what Check reports, so a test can assert that Check fails.
type fakeT struct {
	errs, logs []string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}
func (f *fakeT) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

// failedWith fails t unless the check reported exactly one error per want, each
// containing its text.
func (f *fakeT) failedWith(t *testing.T, want ...string) {
	t.Helper()
	joined := strings.Join(f.errs, "\n")
	if len(f.errs) != len(want) {
		t.Fatalf("check reported %d errors, want %d:\n%s", len(f.errs), len(want), joined)
	}
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("no error contains %q:\n%s", w, joined)
		}
	}
}

var testCanaries = map[string]string{"tracking #0": tracking, "code #0": "73914682", "badge #0": "CANARY-BADGE-7F3A"}

func newHarness(t *testing.T, surfaces ...Surface) *Harness {
	t.Helper()
	h, err := New(testCanaries)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range surfaces {
		if err := h.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func TestNewRefusesShortCanaries(t *testing.T) {
	if _, err := New(map[string]string{"pin": "8642"}); err == nil || !strings.HasPrefix(err.Error(), "canary: ") {
		t.Fatalf("a 4-digit canary: %v", err)
	}
	if _, err := New(nil); err == nil {
		t.Fatal("no canaries accepted")
	}
}

func TestRegisterRefusesIncompleteSurfaces(t *testing.T) {
	var rec Record
	ok := rec.Surface("errors", KindError)
	tests := []struct {
		name string
		edit func(*Surface)
	}{
		{"no name", func(s *Surface) { s.Name = "" }},
		{"no kind", func(s *Surface) { s.Kind = "" }},
		{"no Collect", func(s *Surface) { s.Collect = nil }},
		{"no Plant", func(s *Surface) { s.Plant = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			s := ok
			tc.edit(&s)
			if err := h.Register(s); err == nil {
				t.Fatal("registered")
			}
		})
	}
	h := newHarness(t, ok)
	if err := h.Register(ok); err == nil {
		t.Fatal("the same name registered twice")
	}
}

func TestCheckCleanSurfacesPass(t *testing.T) {
	var rec Record
	rec.Add("answer 1", []byte(`{"hint":"…26GB","parcel":"p-1"}`))
	s := rec.Surface("answers", KindAPI)
	s.Expect, s.MinItems = []string{"p-1"}, 1
	h := newHarness(t, s)
	var ft fakeT
	r := h.Check(&ft)
	ft.failedWith(t)
	if len(r.Coverage) != 1 || r.Coverage[0].Bytes == 0 || len(ft.logs) != 1 {
		t.Fatalf("report %v, logs %q", r, ft.logs)
	}
}

func TestCheckReportsHitsByNameAndForm(t *testing.T) {
	var rec Record
	rec.Add("log", []byte(`{"msg":"scan","raw":"UkI5ODc2NTQzMjZHQg=="}`))
	rec.Add("answer", []byte(`{"error":"no badge canary-badge-7f3a"}`))
	h := newHarness(t, rec.Surface("mixed", KindLog))
	var ft fakeT
	r := h.Check(&ft)
	ft.failedWith(t, "log holds canary tracking #0 (base64)", "answer holds canary badge #0 (case-folded)")
	for _, e := range ft.errs {
		if strings.Contains(e, tracking) || strings.Contains(strings.ToLower(e), "canary-badge-7f3a") {
			t.Errorf("a failure prints a canary's value: %s", e)
		}
	}
	if len(r.Hits) != 2 {
		t.Fatalf("hits %v", r.Hits)
	}
}

func TestCheckReportsCoverageGaps(t *testing.T) {
	var rec Record
	rec.Add("log", []byte("level=INFO msg=started"))
	s := rec.Surface("log", KindLog)
	s.Require, s.Expect, s.MinItems = []string{"lockerd.log"}, []string{"picked_up"}, 2
	h := newHarness(t, s)
	var ft fakeT
	h.Check(&ft)
	ft.failedWith(t, "1 items, want at least 2", "no lockerd.log among 1 items", `no item contains "picked_up"`,
		"nothing planted in the required lockerd.log")
}

func TestCheckReportsCollectErrors(t *testing.T) {
	var rec Record
	s := rec.Surface("gone", KindState)
	s.Collect = func() ([]Item, error) { return nil, errors.New("permission denied") }
	h := newHarness(t, s)
	var ft fakeT
	h.Check(&ft)
	ft.failedWith(t, `collect state "gone": permission denied`, "self-check of state \"gone\": collect: permission denied")
}

// TestSelfCheckCatchesBlindScanners: a surface that drops what it should read (a
// directory scan that skips *.db, a log reader that stops early, a scanner that
// plants where it does not look) passes the scan and fails the self-check.
func TestSelfCheckCatchesBlindScanners(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"station.db", "epochs.key"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("bbolt page"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	skipDB := Dir("state", KindState, dir, DirOptions{Require: []string{"epochs.key"}})
	collect := skipDB.Collect
	skipDB.Collect = func() ([]Item, error) {
		items, err := collect()
		return slices.DeleteFunc(items, func(it Item) bool { return strings.HasSuffix(it.Name, ".db") }), err
	}
	var rec Record
	elsewhere := rec.Surface("answers", KindAPI)
	elsewhere.Plant = func(string) ([]string, error) {
		rec.Add("planted", []byte("a value the plant lost"))
		return []string{"planted"}, nil
	}
	nowhere := rec.Surface("log", KindLog)
	nowhere.Plant = func(string) ([]string, error) { return nil, nil }
	h := newHarness(t, skipDB, elsewhere, nowhere)
	var ft fakeT
	h.Check(&ft)
	ft.failedWith(t, "station.db, planted, was not collected", "the canary planted in planted was not found", "Plant named no item")
}

func TestDirSurface(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"station.db": "\x00\x01bbolt", "epochs.key": "LKKR", "sub/deep/audit.log": "{}", "empty": ""}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "control.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var plantedDB string
	s := Dir("state", KindState, dir, DirOptions{Require: []string{"station.db", "sub/deep/audit.log"},
		Planters: map[string]func(path, value string) error{"station.db": func(path, value string) error {
			plantedDB = path
			return os.WriteFile(path, Encode(Hex, value), 0o600)
		}}})
	items, err := s.Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range items {
		names = append(names, it.Name)
		if string(it.Data) != files[it.Name] {
			t.Errorf("%s read as %q", it.Name, it.Data)
		}
	}
	if want := []string{"empty", "epochs.key", "station.db", "sub/deep/audit.log"}; !slices.Equal(names, want) {
		t.Fatalf("collected %v, want %v", names, want)
	}
	h := newHarness(t, s)
	var ft fakeT
	h.Check(&ft)
	ft.failedWith(t)
	if plantedDB != filepath.Join(dir, "station.db") {
		t.Fatalf("the station.db planter was not used (%q)", plantedDB)
	}
	// Every other file got the value appended in a form of its own.
	value := plantValue("state")
	items, _ = s.Collect()
	forms := map[Form]bool{}
	for _, it := range items {
		if f, ok := Find(it.Data, value); ok && it.Name != "station.db" {
			forms[f] = true
		}
	}
	if len(forms) != 3 {
		t.Fatalf("planted in forms %v, want 3 different ones", forms)
	}
}

func TestDirSurfaceUnreadableFileIsAnError(t *testing.T) {
	if os.Geteuid() == 0 {
		// Root reads a 0000 file; a missing root directory is the error then.
		s := Dir("state", KindState, filepath.Join(t.TempDir(), "missing"), DirOptions{})
		if _, err := s.Collect(); err == nil {
			t.Fatal("a missing directory collected without error")
		}
		return
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "station.db"), nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Dir("state", KindState, dir, DirOptions{}).Collect(); err == nil {
		t.Fatal("an unreadable file was skipped")
	}
}

func TestFileSurface(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lockerd.log")
	if err := os.WriteFile(path, []byte(`{"msg":"picked_up"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := File("lockerd log", KindLog, path)
	s.Expect = []string{"picked_up"}
	var ft fakeT
	newHarness(t, s).Check(&ft)
	ft.failedWith(t)
	data, _ := os.ReadFile(path)
	if f, ok := Find(data, plantValue("lockerd log")); !ok || f != JSONEscaped {
		t.Fatalf("planted as %s, %v", f, ok)
	}
	missing := File("gone", KindLog, filepath.Join(t.TempDir(), "none.log"))
	ft = fakeT{}
	newHarness(t, missing).Check(&ft)
	if len(ft.errs) == 0 {
		t.Fatal("a missing log passed")
	}
}

func TestRecordPlantsEveryForm(t *testing.T) {
	var rec Record
	s := rec.Surface("errors", KindError)
	names, err := s.Plant(plantValue("errors"))
	if err != nil || len(names) != len(Forms()) {
		t.Fatalf("planted %v, %v", names, err)
	}
	for i, it := range rec.Items() {
		if f, ok := Find(it.Data, plantValue("errors")); !ok || (f != Forms()[i] && Forms()[i] != Base64URL) {
			t.Errorf("%s found as %s, %v", it.Name, f, ok)
		}
	}
}
