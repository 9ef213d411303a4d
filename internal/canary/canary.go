// Package canary is the privacy tests' one scanner. A test feeds canary values
// (tracking numbers, pickup codes, PINs, badge tokens) to lockerd, registers every
// surface where lockerd writes (its state files, its log, the MQTT traffic, the
// control API's answers, error strings; later the kiosk's pages and the metrics) with
// a Harness, and Check searches each surface for each canary in every spelling a leak
// could take (see Forms). Check also proves that it looked: each surface must return
// the items it is required to hold and the text that shows it saw the scenario, and a
// canary planted in each surface, the way its writer writes, must be found by the same
// scan. A new surface is registered, not scanned by a new scanner. The promise it
// checks is docs/privacy.md §1.
package canary

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Kind is the kind of place a surface is. Values are stable: they name surfaces in
// test failures.
type Kind string

// The kinds of surface lockerd writes to.
const (
	KindState   Kind = "state"   // files in the state directory: the store, key files
	KindLog     Kind = "log"     // lockerd's log, as its handler writes it
	KindMQTT    Kind = "mqtt"    // messages on the broker: commands, replies, events, presence
	KindAPI     Kind = "api"     // the control socket's answers
	KindError   Kind = "error"   // error strings a caller may log or show
	KindPage    Kind = "page"    // the kiosk's pages
	KindMetrics Kind = "metrics" // the metrics endpoint
)

// Item is one thing a surface holds: a file, a log, a message, an answer.
type Item struct {
	Name string
	Data []byte
}

// Surface is a place where a leak could show, with what the harness needs to scan it
// and to prove the scan covered it.
type Surface struct {
	Name string
	Kind Kind
	// Collect returns everything the surface holds now, as its writer wrote it. An
	// error fails the check: a surface that could not be read was not scanned.
	Collect func() ([]Item, error)
	// Plant writes value into the surface the way its writer would (a bbolt Put into
	// a database, a []byte attribute through the log's handler, a message through the
	// broker) and returns the names of the items that now hold it. Check runs it after
	// the scan and fails unless a new Collect finds value in each of those items, and
	// unless they include every Require name.
	Plant func(value string) ([]string, error)
	// Require names items Collect must return (a state directory's "station.db").
	Require []string
	// Expect holds text that some item must contain: evidence that the surface saw the
	// scenario (a "picked_up" in the log), so an empty or stale surface cannot pass.
	Expect []string
	// MinItems is the fewest items Collect may return.
	MinItems int
}

// Hit is a canary found on a surface.
type Hit struct {
	Surface string
	Kind    Kind
	Item    string
	Canary  string // the canary's name, not its value
	Form    Form
}

func (h Hit) String() string {
	return fmt.Sprintf("%s %q: %s holds canary %s (%s)", h.Kind, h.Surface, h.Item, h.Canary, h.Form)
}

// Coverage is what the scan read of one surface.
type Coverage struct {
	Surface string
	Kind    Kind
	Items   []string
	Bytes   int
	// Gaps says, one line each, how the surface fell short of its Require, Expect and
	// MinItems.
	Gaps []string
}

// Report is the result of Scan.
type Report struct {
	Hits     []Hit
	Coverage []Coverage
}

// String summarises what was read, one surface per clause.
func (r *Report) String() string {
	var parts []string
	for _, c := range r.Coverage {
		parts = append(parts, fmt.Sprintf("%s %q: %d items, %d bytes", c.Kind, c.Surface, len(c.Items), c.Bytes))
	}
	return strings.Join(parts, "; ")
}

type canaryValue struct {
	name, value string
	needles     needles
}

// Harness holds the canaries of one test and the surfaces to search for them.
type Harness struct {
	canaries []canaryValue
	surfaces []Surface
}

// New returns a harness for the canaries, a map from a name that may be printed
// ("tracking #0") to the value that must never be found. Values shorter than MinLen
// are refused.
func New(canaries map[string]string) (*Harness, error) {
	if len(canaries) == 0 {
		return nil, errors.New("canary: no canaries")
	}
	h := &Harness{}
	for name, v := range canaries {
		if len(v) < MinLen {
			return nil, fmt.Errorf("canary: %s is %d bytes, want at least %d", name, len(v), MinLen)
		}
		h.canaries = append(h.canaries, canaryValue{name: name, value: v, needles: newNeedles(v)})
	}
	slices.SortFunc(h.canaries, func(a, b canaryValue) int { return strings.Compare(a.name, b.name) })
	return h, nil
}

// Register adds a surface. Its name must be new, and Kind, Collect and Plant set:
// a surface whose scan cannot be proven is not worth a green test.
func (h *Harness) Register(s Surface) error {
	switch {
	case s.Name == "" || s.Kind == "":
		return errors.New("canary: a surface needs a name and a kind")
	case s.Collect == nil || s.Plant == nil:
		return fmt.Errorf("canary: surface %q needs Collect and Plant", s.Name)
	}
	for _, o := range h.surfaces {
		if o.Name == s.Name {
			return fmt.Errorf("canary: surface %q registered twice", s.Name)
		}
	}
	h.surfaces = append(h.surfaces, s)
	return nil
}

// Scan collects every surface and searches every item for every canary. The report
// holds what was found and what was read; the error joins the surfaces that could not
// be collected.
func (h *Harness) Scan() (*Report, error) {
	r := &Report{}
	var errs []error
	for _, s := range h.surfaces {
		items, err := s.Collect()
		if err != nil {
			errs = append(errs, fmt.Errorf("canary: collect %s %q: %w", s.Kind, s.Name, err))
		}
		cov := Coverage{Surface: s.Name, Kind: s.Kind}
		for _, it := range items {
			cov.Items = append(cov.Items, it.Name)
			cov.Bytes += len(it.Data)
			v := newViews(it.Data)
			for _, c := range h.canaries {
				if f, ok := v.find(c.needles); ok {
					r.Hits = append(r.Hits, Hit{Surface: s.Name, Kind: s.Kind, Item: it.Name, Canary: c.name, Form: f})
				}
			}
		}
		cov.Gaps = gaps(s, items)
		r.Coverage = append(r.Coverage, cov)
	}
	return r, errors.Join(errs...)
}

// gaps lists how items fall short of what s requires.
func gaps(s Surface, items []Item) []string {
	var out []string
	if len(items) < s.MinItems {
		out = append(out, fmt.Sprintf("%d items, want at least %d", len(items), s.MinItems))
	}
	for _, name := range s.Require {
		if !slices.ContainsFunc(items, func(it Item) bool { return it.Name == name }) {
			out = append(out, fmt.Sprintf("no %s among %d items", name, len(items)))
		}
	}
	for _, want := range s.Expect {
		if !slices.ContainsFunc(items, func(it Item) bool { return strings.Contains(string(it.Data), want) }) {
			out = append(out, fmt.Sprintf("no item contains %q", want))
		}
	}
	return out
}

// plantValue is the canary planted in a surface: distinct per surface, and from
// none of the test's canaries.
func plantValue(surface string) string {
	sum := sha256.Sum256([]byte("canary plant " + surface))
	return "PLANTED" + strings.ToUpper(hex.EncodeToString(sum[:6]))
}

// SelfCheck plants a canary in each surface and scans it again: it returns an error
// for each surface whose Plant fails, names no item, misses a required item, or
// whose scan does not find the planted value in every item Plant named. Run it after
// the real scan: planting changes the surfaces.
func (h *Harness) SelfCheck() error {
	return errors.Join(h.selfCheckAll()...)
}

func (h *Harness) selfCheckAll() []error {
	var errs []error
	for _, s := range h.surfaces {
		errs = append(errs, h.selfCheck(s)...)
	}
	return errs
}

func (h *Harness) selfCheck(s Surface) []error {
	value := plantValue(s.Name)
	n := newNeedles(value)
	prefix := fmt.Sprintf("canary: self-check of %s %q", s.Kind, s.Name)
	planted, err := s.Plant(value)
	if err != nil {
		return []error{fmt.Errorf("%s: plant: %w", prefix, err)}
	}
	if len(planted) == 0 {
		return []error{fmt.Errorf("%s: Plant named no item", prefix)}
	}
	var errs []error
	for _, name := range s.Require {
		if !slices.Contains(planted, name) {
			errs = append(errs, fmt.Errorf("%s: nothing planted in the required %s", prefix, name))
		}
	}
	items, err := s.Collect()
	if err != nil {
		return append(errs, fmt.Errorf("%s: collect: %w", prefix, err))
	}
	for _, name := range planted {
		i := slices.IndexFunc(items, func(it Item) bool { return it.Name == name })
		if i < 0 {
			errs = append(errs, fmt.Errorf("%s: %s, planted, was not collected", prefix, name))
			continue
		}
		if _, ok := newViews(items[i].Data).find(n); !ok {
			errs = append(errs, fmt.Errorf("%s: the canary planted in %s was not found", prefix, name))
		}
	}
	return errs
}

// TB is the part of testing.TB that Check uses.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// Check scans, then self-checks, and fails t for each collect error, canary found,
// coverage gap and failed self-check. It logs what it read and returns the report of
// the scan (before planting).
func (h *Harness) Check(t TB) *Report {
	t.Helper()
	r, err := h.Scan()
	if err != nil {
		t.Errorf("%v", err)
	}
	for _, hit := range r.Hits {
		t.Errorf("%v", hit)
	}
	for _, c := range r.Coverage {
		for _, g := range c.Gaps {
			t.Errorf("canary: %s %q not covered: %s", c.Kind, c.Surface, g)
		}
	}
	for _, err := range h.selfCheckAll() {
		t.Errorf("%v", err)
	}
	t.Logf("canary scan of %d canaries in %d forms: %v", len(h.canaries), len(Forms()), r)
	return r
}
