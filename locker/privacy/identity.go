package privacy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"golang.org/x/crypto/curve25519"
)

// IdentityFile is the name of the identity key file in the state directory.
const IdentityFile = "identity.key"

// Identity file layout (see docs/adr/0001-key-scheme.md):
//
//	"LKID" | version 0x01 | X25519 private key (32) | SHA-256(previous 37 bytes)[:8]
const (
	identityMagic    = "LKID"
	identityVersion  = 1
	identityBodyLen  = len(identityMagic) + 1 + 32
	identityCheckLen = 8
	identityFileLen  = identityBodyLen + identityCheckLen
)

// ErrPublicKeyFormat is returned by ParsePublicKey for text that is not 64
// hexadecimal digits.
var ErrPublicKeyFormat = errors.New("privacy: public key is not 64 hex digits")

// Identity is the device's long-term X25519 key pair, generated on first start.
// Its String, GoString and LogValue show the public key only.
type Identity struct {
	private [32]byte
	public  [32]byte
}

// LoadOrCreateIdentity reads <stateDir>/identity.key (0600), creating stateDir
// (0700) and the key on first start. Refuses (error) a key file or dir
// readable by group/others, a malformed file, a wrong size. Writes
// atomically: temp file, fsync, rename, fsync dir.
//
// Errors wrap ErrInsecurePermissions or ErrCorrupt where those apply. Only
// one process may own stateDir.
func LoadOrCreateIdentity(stateDir string) (*Identity, error) {
	if err := ensureStateDir(stateDir); err != nil {
		return nil, err
	}
	removeStaleTemps(stateDir, IdentityFile)
	path := filepath.Join(stateDir, IdentityFile)
	data, err := readKeyFile(path, int64(identityFileLen))
	switch {
	case err == nil:
		return decodeIdentity(data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("privacy: load identity: %w", err)
	}
	id, err := GenerateIdentity()
	if err != nil {
		return nil, err
	}
	if err := writeKeyFile(stateDir, IdentityFile, encodeIdentity(id)); err != nil {
		return nil, fmt.Errorf("privacy: store identity: %w", err)
	}
	return id, nil
}

// GenerateIdentity returns a new random identity that is not stored anywhere:
// for simulators and tests. A device uses LoadOrCreateIdentity.
func GenerateIdentity() (*Identity, error) {
	var priv [32]byte
	if _, err := rand.Read(priv[:]); err != nil {
		return nil, fmt.Errorf("privacy: generate identity: %w", err)
	}
	return NewIdentity(priv)
}

// NewIdentity builds an identity from a given X25519 private key: for test
// vectors and for simulators that need reproducible lockers.
func NewIdentity(private [32]byte) (*Identity, error) {
	pub, err := curve25519.X25519(private[:], curve25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("privacy: derive public key: %w", err)
	}
	id := &Identity{private: private}
	copy(id.public[:], pub)
	return id, nil
}

// Public returns the X25519 public key, which the cloud uses to derive the
// same Keys (DeriveCloudKeys).
func (id *Identity) Public() [32]byte { return id.public }

// PublicHex returns the public key as 64 lowercase hex digits, the form used
// in provisioning and in docs/privacy.md.
func (id *Identity) PublicHex() string { return hex.EncodeToString(id.public[:]) }

// String names the identity by the first 8 hex digits of its public key.
func (id *Identity) String() string {
	return "identity:" + hex.EncodeToString(id.public[:4])
}

// GoString keeps %#v from printing the private key.
func (id *Identity) GoString() string { return "privacy.Identity{" + id.String() + "}" }

// LogValue keeps slog from printing the private key.
func (id *Identity) LogValue() slog.Value { return slog.StringValue(id.String()) }

// ParsePublicKey decodes an X25519 public key written as 64 hex digits, such
// as a fleet key in the configuration.
func ParsePublicKey(s string) ([32]byte, error) {
	var k [32]byte
	if len(s) != 2*len(k) {
		return k, ErrPublicKeyFormat
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return [32]byte{}, ErrPublicKeyFormat
	}
	return k, nil
}

func encodeIdentity(id *Identity) []byte {
	b := make([]byte, 0, identityFileLen)
	b = append(b, identityMagic...)
	b = append(b, identityVersion)
	b = append(b, id.private[:]...)
	sum := sha256.Sum256(b)
	return append(b, sum[:identityCheckLen]...)
}

func decodeIdentity(data []byte) (*Identity, error) {
	if len(data) != identityFileLen {
		return nil, fmt.Errorf("privacy: identity file has %d bytes, want %d: %w", len(data), identityFileLen, ErrCorrupt)
	}
	if string(data[:len(identityMagic)]) != identityMagic {
		return nil, fmt.Errorf("privacy: identity file has a bad magic: %w", ErrCorrupt)
	}
	if v := data[len(identityMagic)]; v != identityVersion {
		return nil, fmt.Errorf("privacy: identity file has version %d, want %d: %w", v, identityVersion, ErrCorrupt)
	}
	sum := sha256.Sum256(data[:identityBodyLen])
	if !bytes.Equal(sum[:identityCheckLen], data[identityBodyLen:]) {
		return nil, fmt.Errorf("privacy: identity file fails its integrity check: %w", ErrCorrupt)
	}
	var priv [32]byte
	copy(priv[:], data[len(identityMagic)+1:identityBodyLen])
	return NewIdentity(priv)
}

// Destroy clears the private key from memory: a key store that keeps only the
// public key (a TPM backend, after enrolment) calls it once the purpose keys are
// derived. The identity must not derive keys afterwards.
func (id *Identity) Destroy() { clear(id.private[:]) }
