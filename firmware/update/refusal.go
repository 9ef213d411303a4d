package update

import (
	"errors"
	"fmt"
)

// Reason says why a locker refused a release. Values go into events and replies and
// never change meaning.
type Reason string

// Refusal reasons (docs/updates.md lists what an operator does about each).
const (
	ReasonMalformed    Reason = "malformed"      // the manifest or the command cannot be read
	ReasonUnsigned     Reason = "unsigned"       // no signature, or not an EdDSA one
	ReasonBadSignature Reason = "bad_signature"  // no pinned release key verifies the manifest
	ReasonCommandKey   Reason = "command_key"    // signed by a command (fleet) key, not a release key
	ReasonNoReleaseKey Reason = "no_release_key" // update.release_keys is empty: updates are off
	ReasonMismatch     Reason = "mismatch"       // the command's version or sha256 differs from the manifest's
	ReasonWrongPackage Reason = "wrong_package"  // another package or architecture
	ReasonDowngrade    Reason = "downgrade"      // not newer than the running version
	ReasonStoreSchema  Reason = "store_schema"   // the running version could not read the release's store
	ReasonTooLarge     Reason = "too_large"      // over update.max_size, or longer than the manifest says
	ReasonDigest       Reason = "digest"         // the downloaded bytes are not the signed ones
	ReasonDownload     Reason = "download"       // the artifact server failed; the command may be re-sent
	ReasonInProgress   Reason = "in_progress"    // another update is under way
	ReasonNoPrevious   Reason = "no_previous"    // the installer found no previous package to roll back to
	ReasonInternal     Reason = "internal"       // the spool could not be written
)

// ErrRefused is wrapped by every *Refusal.
var ErrRefused = errors.New("update: release refused")

// Refusal is a release the locker will not install, and why.
type Refusal struct {
	Reason Reason
	Detail string // fixed text for people; never a value from the command
}

func (r *Refusal) Error() string { return "update: refused (" + string(r.Reason) + "): " + r.Detail }

// Is makes a Refusal match ErrRefused.
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

func refusal(reason Reason, format string, args ...any) error {
	return &Refusal{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf is the reason of a refusal, or ReasonInternal for any other error.
func ReasonOf(err error) Reason {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ReasonInternal
}
