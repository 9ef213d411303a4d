package update

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Step is an update's progress as events report it (docs/updates.md). Values go on the
// wire and never change meaning.
type Step string

// Steps. Downloading, Verified and Refused are lockerd's; the others are the
// installer's, reported by lockerd from the installer's state file (Report).
const (
	Downloading Step = "downloading"
	Verified    Step = "verified" // signature and digest good; spooled once the doors are idle
	Refused     Step = "refused"
	Installing  Step = "installing"
	Installed   Step = "installed"
	Healthy     Step = "healthy"
	RolledBack  Step = "rolled_back"
)

// Event is one step of an update.
type Event struct {
	Step    Step
	Version string // the release's version
	Reason  Reason // with Refused and RolledBack
	Command string // the update command's id
}

// Order is an update command's body, as the cloud link hands it over.
type Order struct {
	URL      string `json:"url"`
	Version  string `json:"version"`
	SHA256   string `json:"sha256"`
	Manifest string `json:"manifest"` // JWS compact, signed by a release key
	Command  string `json:"command"`  // the command's id
}

// Config is what an Updater needs.
type Config struct {
	Spool   string // lockerd's spool directory
	Keys    Keys
	MaxSize int64  // the largest package accepted, in bytes
	Package string // the Debian package lockerd runs from: "lockerd"
	Arch    string // its Debian architecture
	Running string // the running version
	// ReadsSchema is the newest store schema the running build opens. A release that
	// writes a newer one is refused: after a rollback the running build must read it.
	ReadsSchema int
	Client      *http.Client
	Log         *slog.Logger
}

// Idler reports when no door operation is in progress; the station implements it in
// the cloud link adapter.
type Idler interface {
	// WaitIdle returns when no door operation is in progress, or ctx's error.
	WaitIdle(ctx context.Context) error
}

// Updater runs at most one update at a time.
type Updater struct {
	cfg    Config
	idle   Idler
	report func(Event)

	mu   sync.Mutex
	busy bool
}

// New returns an Updater that reports every step to report.
func New(cfg Config, idle Idler, report func(Event)) *Updater {
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Updater{cfg: cfg, idle: idle, report: report}
}

// Check verifies an order without downloading: the manifest's signature (a release
// key, never a command key), the command's agreement with it, the package, the
// architecture, the version order and the store schema. It returns a *Refusal.
func (u *Updater) Check(o Order) (*Manifest, error) {
	return Check(o, u.cfg)
}

// Check is Updater.Check for a Config; the installer's verification uses it too.
func Check(o Order, cfg Config) (*Manifest, error) {
	m, err := VerifyManifest([]byte(o.Manifest), cfg.Keys)
	if err != nil {
		return nil, err
	}
	switch {
	case o.Version != m.Version || o.SHA256 != m.SHA256:
		return nil, refusal(ReasonMismatch, "the command's version or sha256 differs from the signed manifest's")
	case m.Package != cfg.Package || m.Arch != cfg.Arch:
		return nil, refusal(ReasonWrongPackage, "a release of another package or architecture")
	case m.Size > cfg.MaxSize:
		return nil, refusal(ReasonTooLarge, "package larger than update.max_size")
	case m.StoreSchema > cfg.ReadsSchema:
		return nil, refusal(ReasonStoreSchema, "the running version could not read the store after a rollback; ship a release that reads schema %d first", m.StoreSchema)
	}
	c, err := CompareVersions(m.Version, cfg.Running)
	if err != nil {
		return nil, refusal(ReasonInternal, "the running version is not a Debian version")
	}
	if c <= 0 {
		return nil, refusal(ReasonDowngrade, "not newer than the running version")
	}
	return m, nil
}

// Start checks o and, when it passes, runs the update in the background: it returns
// the refusal of Check, or ReasonInProgress while another update runs or the installer
// has not finished the last one. done, when not nil, is called with the result.
func (u *Updater) Start(ctx context.Context, o Order, done func(error)) error {
	m, err := u.begin(o)
	if err != nil {
		return err
	}
	go func() {
		err := u.run(ctx, o, m)
		if done != nil {
			done(err)
		}
	}()
	return nil
}

// Run is Start in the caller's goroutine.
func (u *Updater) Run(ctx context.Context, o Order) error {
	m, err := u.begin(o)
	if err != nil {
		return err
	}
	return u.run(ctx, o, m)
}

// begin checks o and marks the updater busy; a refusal is reported as an event.
func (u *Updater) begin(o Order) (*Manifest, error) {
	m, err := u.Check(o)
	if err == nil {
		u.mu.Lock()
		switch {
		case u.busy:
			err = refusal(ReasonInProgress, "another update is under way")
		case exists(filepath.Join(u.cfg.Spool, RequestFile)):
			err = refusal(ReasonInProgress, "the installer has not finished the last update")
		default:
			u.busy = true
		}
		u.mu.Unlock()
	}
	if err != nil {
		u.report(Event{Step: Refused, Version: o.Version, Reason: ReasonOf(err), Command: o.Command})
		return nil, err
	}
	return m, nil
}

// run downloads and spools; the updater is free again before the last event, so that a
// fleet reacting to it at once is not told in_progress.
func (u *Updater) run(ctx context.Context, o Order, m *Manifest) error {
	err := u.download(ctx, o, m)
	stopping := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	if !stopping { // stopping: the order stays, Resume picks it up at the next start
		if rerr := os.Remove(filepath.Join(u.cfg.Spool, OrderFile)); rerr != nil && !os.IsNotExist(rerr) && err == nil {
			err = fmt.Errorf("update: spool: %w", rerr)
		}
	}
	u.mu.Lock()
	u.busy = false
	u.mu.Unlock()
	if err != nil && !stopping {
		u.cfg.Log.Warn("update refused", "version", m.Version, "reason", ReasonOf(err), "err", err)
		u.report(Event{Step: Refused, Version: m.Version, Reason: ReasonOf(err), Command: o.Command})
	}
	return err
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Resume runs the order a stop interrupted (lockerd stopped or lost power while
// downloading or waiting for the doors), if the spool holds one; the download goes on
// from where it stopped. Call it once at start, after Report.
func (u *Updater) Resume(ctx context.Context) error {
	data, err := os.ReadFile(filepath.Join(u.cfg.Spool, OrderFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	var o Order
	if err := json.Unmarshal(data, &o); err != nil {
		_ = os.Remove(filepath.Join(u.cfg.Spool, OrderFile))
		return refusal(ReasonMalformed, "the spooled order cannot be read")
	}
	return u.Run(ctx, o)
}

func (u *Updater) download(ctx context.Context, o Order, m *Manifest) error {
	if err := os.MkdirAll(u.cfg.Spool, 0o755); err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	data, err := jsonLine(o)
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(u.cfg.Spool, OrderFile), data, 0o600); err != nil {
		return err
	}
	deb := DebFile(m.Package, m.Version, m.Arch)
	// A package verified before a stop is not fetched again.
	if sum, err := fileSHA256(filepath.Join(u.cfg.Spool, deb)); err != nil || sum != m.SHA256 {
		if err := u.fetch(ctx, o, m, deb); err != nil {
			return err
		}
	}
	u.report(Event{Step: Verified, Version: m.Version, Command: o.Command})
	if err := u.idle.WaitIdle(ctx); err != nil {
		return err
	}
	req := Request{Manifest: o.Manifest, Deb: deb, Command: o.Command, Previous: u.cfg.Running}
	if data, err = jsonLine(req); err != nil {
		return err
	}
	// The request is the last file written: the path unit starts the installer on it.
	return writeAtomic(filepath.Join(u.cfg.Spool, RequestFile), data, 0o644)
}

// fetch downloads the package into the spool as deb, verified.
func (u *Updater) fetch(ctx context.Context, o Order, m *Manifest, deb string) error {
	u.report(Event{Step: Downloading, Version: m.Version, Command: o.Command})
	part := filepath.Join(u.cfg.Spool, PartFile)
	if err := fetch(ctx, u.cfg.Client, o.URL, part, m.Size); err != nil {
		return err
	}
	sum, err := fileSHA256(part)
	if err != nil {
		return err
	}
	if sum != m.SHA256 {
		_ = os.Remove(part) // the bytes are wrong; a re-sent command starts again
		return refusal(ReasonDigest, "the downloaded package is not the signed one")
	}
	if err := os.Rename(part, filepath.Join(u.cfg.Spool, deb)); err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	return nil
}

// Report sends, as events, the installer's steps logged in dir (the installer's
// directory) since the last call that reported; the mark in the spool makes a restart
// report each step once.
func Report(dir, spool string, report func(Event)) error {
	data, err := os.ReadFile(filepath.Join(dir, StepsFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update: installer steps: %w", err)
	}
	mark := filepath.Join(spool, ReportedFile)
	last := int64(0)
	if data, err := os.ReadFile(mark); err == nil {
		last, _ = strconv.ParseInt(string(trimNL(data)), 10, 64)
	}
	newest := last
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			continue // a line cut by a power cut; the next step follows it
		}
		serial, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || serial <= last {
			continue
		}
		newest = max(newest, serial)
		step, ok := installerSteps[InstallerStep(f[1])]
		if !ok {
			continue
		}
		ev := Event{Step: step, Version: f[2], Command: f[3]}
		if step == RolledBack || step == Refused {
			ev.Reason = Reason(f[4])
		}
		report(ev)
	}
	if newest == last {
		return nil
	}
	return writeAtomic(mark, []byte(strconv.FormatInt(newest, 10)+"\n"), 0o644)
}

// installerSteps are the installer's steps that become events; rolling_back does not
// (rolled_back reports its end).
var installerSteps = map[InstallerStep]Step{StepInstalling: Installing, StepInstalled: Installed,
	StepHealthy: Healthy, StepRolledBack: RolledBack, StepRefused: Refused}
