package update

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/lockerd/lockerd/mqtt/jws"
)

// ManifestType is the manifest's "typ": it is no command type, so a manifest can never
// be replayed as a command, nor a command as a manifest.
const ManifestType = "lockerd-release"

// MaxManifestSize bounds a signed manifest.
const MaxManifestSize = 8 << 10

// Manifest describes one release package. It travels as a JWS compact (EdDSA, like the
// commands, docs/protocol.md §3.1) signed by a release key, inside the update command.
type Manifest struct {
	Typ     string `json:"typ"`     // ManifestType
	Package string `json:"package"` // the Debian package name, "lockerd"
	Version string `json:"version"` // the Debian version inside the package
	Arch    string `json:"arch"`    // the Debian architecture: amd64, arm64, armhf
	SHA256  string `json:"sha256"`  // of the .deb, 64 lower-case hex digits
	Size    int64  `json:"size"`    // of the .deb, in bytes
	// StoreSchema is the store schema this release writes. A locker refuses a release
	// whose schema its running build cannot read: after a rollback, the previous version
	// must still open the store (ADR 0064).
	StoreSchema int `json:"store_schema"`
}

var (
	packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]{1,62}$`)
	debArch     = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
	hexDigest   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ParseManifest decodes a manifest's JSON payload strictly (no unknown or duplicate
// members, no trailing data) and checks its values. It does not verify anything: see
// VerifyManifest.
func ParseManifest(payload []byte) (*Manifest, error) {
	if len(payload) > MaxManifestSize {
		return nil, refusal(ReasonMalformed, "manifest too large")
	}
	if err := noDuplicates(payload); err != nil {
		return nil, refusal(ReasonMalformed, "manifest: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, refusal(ReasonMalformed, "manifest: not the manifest's JSON")
	}
	if dec.More() {
		return nil, refusal(ReasonMalformed, "manifest: trailing data")
	}
	switch {
	case m.Typ != ManifestType:
		return nil, refusal(ReasonMalformed, "manifest: typ is not %s", ManifestType)
	case !packageName.MatchString(m.Package):
		return nil, refusal(ReasonMalformed, "manifest: bad package name")
	case !debArch.MatchString(m.Arch):
		return nil, refusal(ReasonMalformed, "manifest: bad arch")
	case !hexDigest.MatchString(m.SHA256):
		return nil, refusal(ReasonMalformed, "manifest: sha256 must be 64 lower-case hex digits")
	case m.Size <= 0:
		return nil, refusal(ReasonMalformed, "manifest: size must be positive")
	case m.StoreSchema < 1 || m.StoreSchema > 255:
		return nil, refusal(ReasonMalformed, "manifest: store_schema must be 1 to 255")
	}
	if _, err := ParseVersion(m.Version); err != nil {
		return nil, refusal(ReasonMalformed, "manifest: %v", err)
	}
	return &m, nil
}

// noDuplicates refuses an object with a member twice: encoding/json keeps the last,
// a signer's tool might have meant the first.
func noDuplicates(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return errors.New("not a JSON object")
		}
		key, _ := k.(string)
		if seen[key] {
			return fmt.Errorf("member %.32q twice", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return errors.New("not a JSON object")
		}
	}
	return nil
}

// Keys are the public keys a locker verifies with. Release keys sign manifests;
// command keys (the fleet's) sign commands and are named only so that a manifest they
// signed is refused with its own reason.
type Keys struct {
	Release []ed25519.PublicKey
	Command []ed25519.PublicKey
}

// ParseKeys decodes 64-hex-digit Ed25519 public keys.
func ParseKeys(hexKeys ...string) ([]ed25519.PublicKey, error) {
	out := make([]ed25519.PublicKey, 0, len(hexKeys))
	for i, h := range hexKeys {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("update: key %d: want 64 hex digits", i)
		}
		out = append(out, ed25519.PublicKey(b))
	}
	return out, nil
}

// VerifyManifest checks a signed manifest: a well-formed JWS, signed by one of the
// release keys, with a valid payload. A manifest signed by a command key is refused
// with ReasonCommandKey: the fleet's key is not enough to push firmware.
func VerifyManifest(token []byte, keys Keys) (*Manifest, error) {
	if len(keys.Release) == 0 {
		return nil, refusal(ReasonNoReleaseKey, "no release key is configured")
	}
	if len(bytes.TrimSpace(token)) == 0 {
		return nil, refusal(ReasonUnsigned, "the command carries no signed manifest")
	}
	tok, err := jws.Parse(token, MaxManifestSize)
	switch {
	case errors.Is(err, jws.ErrUnsupported):
		return nil, refusal(ReasonUnsigned, "manifest header is not EdDSA")
	case err != nil:
		return nil, refusal(ReasonMalformed, "manifest is not a compact JWS")
	}
	if err := tok.Verify(keys.Release...); err != nil {
		if len(keys.Command) > 0 && tok.Verify(keys.Command...) == nil {
			return nil, refusal(ReasonCommandKey, "manifest signed by a command key, not a release key")
		}
		return nil, refusal(ReasonBadSignature, "no release key verifies the manifest")
	}
	return ParseManifest(tok.Payload)
}

// SignManifest signs m with a release key (for tools and tests; openssl does the same,
// docs/updates.md).
func SignManifest(key ed25519.PrivateKey, kid string, m *Manifest) ([]byte, error) {
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("update: encode manifest: %w", err)
	}
	return jws.Sign(key, kid, payload)
}
