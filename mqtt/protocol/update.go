package protocol

import (
	"net/url"
	"strings"

	"github.com/lockerd/lockerd/internal/enum"
)

// Limits of an update command (docs/updates.md).
const (
	MaxUpdateURL      = 2048
	MaxUpdateVersion  = 128
	MaxUpdateManifest = 8 << 10
)

// UpdateBody asks the locker to install a release (ADR 0064). The manifest, signed by
// a release key that is not the fleet's command key, decides what is installed;
// version and sha256 must repeat its values, so that what an operator reads in the
// command is what the release key signed.
type UpdateBody struct {
	URL      string `json:"url"`      // http or https; the locker resumes with Range requests
	Version  string `json:"version"`  // the Debian version of the package
	SHA256   Digest `json:"sha256"`   // of the .deb
	Manifest string `json:"manifest"` // JWS compact (EdDSA) by a release key
}

// Type implements Body.
func (*UpdateBody) Type() CommandType { return CmdUpdate }

// Validate implements Body.
func (b *UpdateBody) Validate() error {
	u, err := url.Parse(b.URL)
	switch {
	case len(b.URL) > MaxUpdateURL:
		return schemaErr("body.url", ProblemTooLong, "at most %d bytes", MaxUpdateURL)
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil:
		return schemaErr("body.url", ProblemBadValue, "want an http or https URL without credentials")
	case b.Version == "" || len(b.Version) > MaxUpdateVersion ||
		strings.Trim(b.Version, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+~-:") != "":
		return schemaErr("body.version", ProblemBadValue, "want a Debian version of at most %d characters", MaxUpdateVersion)
	case b.SHA256.IsZero():
		return schemaErr("body.sha256", ProblemBadDigest, "want the package's SHA-256")
	case b.Manifest == "" || len(b.Manifest) > MaxUpdateManifest ||
		strings.Trim(b.Manifest, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.") != "":
		return schemaErr("body.manifest", ProblemBadValue, "want a compact JWS of at most %d bytes", MaxUpdateManifest)
	}
	return nil
}

// UpdateStep is how far an update has come (event update).
type UpdateStep string

// Update steps (docs/updates.md says what each means and what to do).
const (
	UpdateDownloading UpdateStep = "downloading" // the manifest verified; fetching the package
	UpdateVerified    UpdateStep = "verified"    // the package's digest matches; installed once no door operation runs
	UpdateRefused     UpdateStep = "refused"     // not installed; reason says why
	UpdateInstalling  UpdateStep = "installing"  // dpkg is installing it
	UpdateInstalled   UpdateStep = "installed"   // installed and restarted; proving healthy
	UpdateHealthy     UpdateStep = "healthy"     // the new version runs and is healthy: done
	UpdateRolledBack  UpdateStep = "rolled_back" // the previous version was reinstalled; reason says why
)

var updateSteps = enum.Strings(unknown("update step"), UpdateDownloading, UpdateVerified, UpdateRefused,
	UpdateInstalling, UpdateInstalled, UpdateHealthy, UpdateRolledBack)

// ParseUpdateStep parses an update step.
func ParseUpdateStep(s string) (UpdateStep, error) { return updateSteps.Parse(s) }

// Valid reports whether s is a defined update step.
func (s UpdateStep) Valid() bool { return updateSteps.Valid(s) }

// UpdateSteps lists every update step, in the order they happen.
func UpdateSteps() []UpdateStep { return updateSteps.Values() }

// UpdateEvent reports a step of an update.
type UpdateEvent struct {
	Step    UpdateStep `json:"step"`
	Version string     `json:"version,omitempty"` // the release's; absent when the installer could not read it
	Reason  string     `json:"reason,omitempty"`  // with refused and rolled_back (docs/updates.md)
	Command string     `json:"command,omitempty"` // the update command's id
}

// Validate implements EventBody.
func (e *UpdateEvent) Validate() error {
	if !e.Step.Valid() {
		return schemaErr("body.step", ProblemBadValue, "not a known update step")
	}
	if len(e.Version) > MaxUpdateVersion {
		return schemaErr("body.version", ProblemTooLong, "at most %d bytes", MaxUpdateVersion)
	}
	return checkOptionalIDs("body.reason", e.Reason, "body.command", e.Command)
}
