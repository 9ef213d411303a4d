package firmware

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/lockerd/lockerd/drivers/tpm"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/mqtt/clientconf"
)

// DeviceKeys are the station's device secrets, opened from the key store that
// `keys:` names (docs/adr/0047-device-keys-in-a-tpm.md): the digests' keys, the
// audit key, the epoch keyring's protection and the identity's public key.
type DeviceKeys struct {
	// Store computes the digests and holds the audit key; locker.Options takes it.
	Store privacy.KeyStore
	// Public is the X25519 public key the fleet derives the shared keys from.
	Public [32]byte
	tpm    *tpm.Store // keys: tpm only
}

// OpenKeys opens the key store the config names. With keys: file it loads (creating
// on first start) identity.key and derives the keys in software. With keys: tpm it
// opens the TPM at tpm.device (dev instead, when not nil: tests), enrolling the
// station on first start; an identity.key left by keys: file is then overwritten and
// removed, since its keys no longer match the TPM's and a copy of the card would
// still yield everything sealed under them.
func OpenKeys(cfg *config.Config, log *slog.Logger, dev transport.TPM) (*DeviceKeys, error) {
	return openKeys(cfg, log, dev, false)
}

func openKeys(cfg *config.Config, log *slog.Logger, dev transport.TPM, noEnrol bool) (*DeviceKeys, error) {
	if cfg.KeyStore() == config.KeysFile {
		id, keys, err := Secrets(cfg)
		if err != nil {
			return nil, err
		}
		return &DeviceKeys{Store: keys, Public: id.Public()}, nil
	}
	fleet, err := fleetX25519(cfg)
	if err != nil {
		return nil, err
	}
	s, err := tpm.Open(tpm.Options{StateDir: cfg.StateDir, Device: cfg.TPMDevice(), TPM: dev,
		FleetPublic: fleet, LockerID: cfg.LockerID, Log: log, NoEnrol: noEnrol})
	if err != nil {
		return nil, err
	}
	idFile := filepath.Join(cfg.StateDir, privacy.IdentityFile)
	if _, err := os.Lstat(idFile); err == nil {
		if err := privacy.ShredFile(idFile); err != nil {
			s.Close()
			return nil, err
		}
		log.Warn("keys: tpm: removed the identity.key of keys: file; the station has a new identity, so the fleet must enrol its public key again and re-announce the waiting parcels (docs/privacy.md §8)")
	}
	return &DeviceKeys{Store: s, Public: s.Public(), tpm: s}, nil
}

// Sealed names of the broker secrets (drivers/tpm: <state>/tpm/<name>.sealed).
const (
	sealedPassword = "mqtt-password"
	sealedKey      = "mqtt-key"
)

// TakeInBrokerSecrets, with keys: tpm, seals the broker password file and TLS client
// key file the mqtt section names, where they exist, then overwrites them with zeros
// and removes them (logged): from then on they exist on the card only sealed, and
// cfg.MQTT reads them from the TPM. A file put back later (a rotated password) is
// taken in again at the next start. A file that cannot be removed (a read-only
// LoadCredential= copy) is logged as an error and stays: the card still holds it.
// With keys: file it does nothing.
func (k *DeviceKeys) TakeInBrokerSecrets(cfg *config.Config, log *slog.Logger) error {
	if k.tpm == nil || !cfg.MQTT.Enabled() {
		return nil
	}
	m := &cfg.MQTT
	for _, f := range []struct{ setting, path, name string }{
		{"mqtt.password_file", m.PasswordFile, sealedPassword},
		{"mqtt.key_file", m.KeyFile, sealedKey},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Lstat(f.path); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		data, err := clientconf.ReadSecretFile(f.path, clientconf.NotOthers, clientconf.MaxKeyFile)
		if err != nil {
			return fmt.Errorf("firmware: %s: %w", f.setting, err)
		}
		err = k.tpm.Seal(f.name, data)
		if err == nil {
			var back []byte
			if back, err = k.tpm.Unseal(f.name); err == nil && !bytes.Equal(back, data) {
				err = errors.New("the sealed copy differs")
			}
			clear(back)
		}
		clear(data)
		if err != nil {
			return fmt.Errorf("firmware: seal %s: %w", f.setting, err)
		}
		if err := privacy.ShredFile(f.path); err != nil {
			log.Error("keys: tpm: sealed a broker secret but cannot remove its file: a copy of the card still holds it", "setting", f.setting, "err", err)
			continue
		}
		log.Warn("keys: tpm: sealed a broker secret by the TPM and removed its file from the card", "setting", f.setting, "file", f.path)
	}
	m.Secrets = sealedSecrets{k.tpm, m}
	return nil
}

// sealedSecrets reads each broker secret from its file while one exists (before
// the first start: lockerd check), else from the TPM.
type sealedSecrets struct {
	s *tpm.Store
	m *config.MQTT
}

func (x sealedSecrets) read(path, name string) ([]byte, error) {
	if _, err := os.Lstat(path); err == nil {
		return clientconf.ReadSecretFile(path, clientconf.NotOthers, clientconf.MaxKeyFile)
	}
	data, err := x.s.Unseal(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is missing and nothing is sealed in its place", clientconf.ErrSecretFile, path)
	}
	return data, err
}

func (x sealedSecrets) Password() (string, error) {
	data, err := x.read(x.m.PasswordFile, sealedPassword)
	if err != nil {
		return "", err
	}
	defer clear(data)
	line, err := clientconf.FirstLine(data)
	if err != nil {
		return "", fmt.Errorf("%w: the broker password %w", clientconf.ErrSecretFile, err)
	}
	return line, nil
}

func (x sealedSecrets) ClientKey() ([]byte, error) { return x.read(x.m.KeyFile, sealedKey) }

// CheckKeys is `lockerd check`'s look at the key store: with keys: tpm on an
// enrolled station it opens the TPM (never enrolling) so that the broker secrets
// sealed in it are read as the cloud link would read them; the caller closes the
// result (nil with keys: file, or before enrolment: the files are read then).
func CheckKeys(cfg *config.Config, log *slog.Logger) (*DeviceKeys, error) {
	if cfg.KeyStore() != config.KeysTPM {
		return nil, nil
	}
	k, err := openKeys(cfg, log, nil, true)
	if errors.Is(err, tpm.ErrNotEnrolled) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cfg.MQTT.Secrets = sealedSecrets{k.tpm, &cfg.MQTT}
	return k, nil
}

// PublicHex is the public key as 64 hex digits, as the identity reply carries it.
func (k *DeviceKeys) PublicHex() string { return hex.EncodeToString(k.Public[:]) }

// OpenKeyring opens the epoch keyring: plain with keys: file, encrypted under the
// TPM's key-encryption key with keys: tpm.
func (k *DeviceKeys) OpenKeyring(stateDir string) (*privacy.Keyring, error) {
	if k.tpm == nil {
		return privacy.OpenKeyring(stateDir)
	}
	return privacy.OpenKeyringWrapped(stateDir, k.tpm)
}

// Close clears the keys from memory and closes the TPM.
func (k *DeviceKeys) Close() error { return k.Store.Close() }

// Exposure is what a copy of the card yields with the config's key store, for the
// start log and `lockerd check`. It needs no TPM.
func Exposure(cfg *config.Config) string {
	if cfg.KeyStore() == config.KeysTPM {
		return tpm.Exposure
	}
	e := new(privacy.Keys).Exposure()
	if cfg.MQTT.Enabled() {
		e += "; and the broker password or client key files named in the mqtt section: a copy logs in to the broker as this locker"
	}
	return e
}

func fleetX25519(cfg *config.Config) ([32]byte, error) {
	var fleet [32]byte
	if b, err := hex.DecodeString(cfg.Fleet.X25519Public); err != nil || len(b) != 32 {
		return fleet, errors.New("firmware: fleet.x25519_public is not a 32-byte hex key")
	} else {
		copy(fleet[:], b)
	}
	return fleet, nil
}

// logExposure logs what a copy of the card yields: a warning with keys: file.
func logExposure(cfg *config.Config, log *slog.Logger) {
	if cfg.KeyStore() == config.KeysFile {
		log.Warn(Exposure(cfg), "keys", cfg.KeyStore())
		return
	}
	log.Info(Exposure(cfg), "keys", cfg.KeyStore(), "device", cfg.TPMDevice())
}
