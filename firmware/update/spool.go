package update

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The spool directory belongs to lockerd; the installer only reads it (and removes the
// request and the stamp). Its files:
const (
	RequestFile = "request.json" // a verified release to install; the path unit watches it
	PartFile    = "download.part"
	OrderFile   = "order.json" // the update command under way, for Resume after a stop
	StampFile   = "health"     // "VERSION UNIXTIME": lockerd proved healthy (WriteStamp)
	// ReportedFile records the last installer step lockerd has sent as an event.
	ReportedFile = "reported"
)

// DebFile is the spooled package's name for a version.
func DebFile(pkg, version, arch string) string {
	return pkg + "_" + strings.ReplaceAll(version, ":", "%3a") + "_" + arch + ".deb"
}

// Request is what lockerd drops into the spool once a release is verified and no door
// operation is under way. The installer runs as root and trusts none of it: it copies
// the package into its own directory and verifies the copy against the manifest and
// the release keys again (VerifyRequest), so a compromised lockerd cannot install
// anything the release key did not sign.
type Request struct {
	Manifest string `json:"manifest"` // the signed manifest (JWS compact)
	Deb      string `json:"deb"`      // the package's file name in the spool
	Command  string `json:"command"`  // the update command's id, for events
	Previous string `json:"previous"` // the version running when the request was made
}

// writeAtomic writes data to path through a temporary file, fsync and rename, then
// fsyncs the directory: a power cut leaves the old file or the new one.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	return nil
}

// ReadRequest reads the spool's request.
func ReadRequest(spool string) (*Request, error) {
	data, err := os.ReadFile(filepath.Join(spool, RequestFile))
	if err != nil {
		return nil, fmt.Errorf("update: request: %w", err)
	}
	if len(data) > 2*MaxManifestSize {
		return nil, refusal(ReasonMalformed, "request too large")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Request
	if err := dec.Decode(&r); err != nil {
		return nil, refusal(ReasonMalformed, "request is not the request's JSON")
	}
	if r.Deb != filepath.Base(r.Deb) || !strings.HasSuffix(r.Deb, ".deb") || strings.HasPrefix(r.Deb, ".") {
		return nil, refusal(ReasonMalformed, "request names a package outside the spool")
	}
	return &r, nil
}

// WriteStamp records that version runs and is healthy: the store opened, the drivers
// started, the cloud link is up and the watchdog is fed. lockerd calls it once all of
// those hold after a start; the installer waits for it after a restart.
func WriteStamp(spool, version string, now time.Time) error {
	return writeAtomic(filepath.Join(spool, StampFile),
		[]byte(version+" "+strconv.FormatInt(now.Unix(), 10)+"\n"), 0o644)
}

// StepsFile is the installer's log of steps, "SERIAL\tSTEP\tVERSION\tCOMMAND\tREASON"
// per line, appended at each step (and emptied when a new request starts): Report sends
// every line as an event, so a step lockerd was not running to see is still reported.
const StepsFile = "steps"

// InstallerStep is a step the root installer records in its state file.
type InstallerStep string

// Installer steps, in the order they happen (lockerd-update.sh writes them).
const (
	StepInstalling  InstallerStep = "installing"   // dpkg is installing the new package
	StepInstalled   InstallerStep = "installed"    // installed; lockerd restarted, health awaited
	StepHealthy     InstallerStep = "healthy"      // the new version proved healthy: done
	StepRollingBack InstallerStep = "rolling_back" // reinstalling the previous package
	StepRolledBack  InstallerStep = "rolled_back"  // the previous package is back
	StepRefused     InstallerStep = "refused"      // the installer refused the request
)

// State is the installer's state file: one "key=value" per line, written atomically at
// each step by lockerd-update.sh and readable by lockerd.
type State struct {
	Serial   int64 // increases at every step written, so a step is reported once
	Step     InstallerStep
	Version  string // the version being installed
	Previous string // the version it replaces
	Command  string
	Reason   Reason // with StepRefused and StepRolledBack
}

// ReadState reads the installer's state file; a missing file is the zero State.
func ReadState(path string) (State, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("update: state: %w", err)
	}
	var s State
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "serial":
			s.Serial, _ = strconv.ParseInt(v, 10, 64)
		case "step":
			s.Step = InstallerStep(v)
		case "version":
			s.Version = v
		case "previous":
			s.Previous = v
		case "command":
			s.Command = v
		case "reason":
			s.Reason = Reason(v)
		}
	}
	return s, nil
}
