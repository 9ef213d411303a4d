package config

import (
	"crypto/ed25519"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lockerd/lockerd/mqtt/jws"
)

// Update configures signed updates (docs/updates.md, ADR 0064).
type Update struct {
	// ReleaseKeys are the Ed25519 public keys (64 hex digits each) that sign release
	// manifests. They must differ from fleet.ed25519_public: whoever holds the command
	// key must not be able to push firmware. None: the locker refuses every update.
	ReleaseKeys []string `yaml:"release_keys,omitempty"`
	// Spool is where lockerd downloads a release and drops the request the installer
	// (lockerd-update.path) watches. Default DefaultUpdateSpool.
	Spool string `yaml:"spool,omitempty"`
	// MaxSizeMiB bounds a release package; default DefaultUpdateMaxSizeMiB.
	MaxSizeMiB int `yaml:"max_size_mib,omitempty"`
	// HealthTimeout is how long a new version has after its start to prove healthy
	// before the installer reinstalls the previous one; default DefaultHealthTimeout.
	HealthTimeout time.Duration `yaml:"health_timeout,omitempty"`
	// InstallerDir is the installer's own directory (root's; lockerd reads its state
	// file to report the installer's steps). Default DefaultInstallerDir.
	InstallerDir string `yaml:"installer_dir,omitempty"`
}

// Update defaults.
const (
	DefaultUpdateSpool      = "/var/lib/lockerd/update"
	DefaultUpdateMaxSizeMiB = 64
	DefaultHealthTimeout    = 2 * time.Minute
	DefaultInstallerDir     = "/var/lib/lockerd-update"
)

// Installer is update.installer_dir or its default.
func (u Update) Installer() string {
	if u.InstallerDir == "" {
		return DefaultInstallerDir
	}
	return u.InstallerDir
}

// SpoolDir is update.spool or its default.
func (u Update) SpoolDir() string {
	if u.Spool == "" {
		return DefaultUpdateSpool
	}
	return u.Spool
}

// MaxSize is update.max_size_mib in bytes, or its default.
func (u Update) MaxSize() int64 {
	if u.MaxSizeMiB == 0 {
		return DefaultUpdateMaxSizeMiB << 20
	}
	return int64(u.MaxSizeMiB) << 20
}

// Health is update.health_timeout or its default.
func (u Update) Health() time.Duration {
	if u.HealthTimeout == 0 {
		return DefaultHealthTimeout
	}
	return u.HealthTimeout
}

func (v *validator) update(c *Config) {
	u := c.Update
	for i, k := range u.ReleaseKeys {
		path := "update.release_keys[" + strconv.Itoa(i) + "]"
		b, err := hex.DecodeString(k)
		switch {
		case err != nil || len(b) != ed25519.PublicKeySize:
			v.fail(path, "must be 64 hex digits (an Ed25519 public key: lockerd-release keygen prints it)")
			continue
		case strings.EqualFold(k, c.Fleet.Ed25519Public):
			v.fail(path, "is the fleet's command key: a release key must be another key, so that a stolen operator key cannot push firmware")
			continue
		}
		if _, ok := publishedKeys[strings.ToLower(k)]; ok {
			v.fail(path, "a published test key whose private half anyone has")
			continue
		}
		if _, err := jws.NewKeys(ed25519.PublicKey(b)); err != nil {
			v.fail(path, "not a usable signing key")
		}
	}
	if u.InstallerDir != "" && !filepath.IsAbs(u.InstallerDir) {
		v.fail("update.installer_dir", "must be an absolute path (default %s)", DefaultInstallerDir)
	}
	if u.Spool != "" && !filepath.IsAbs(u.Spool) {
		v.fail("update.spool", "must be an absolute path (default %s)", DefaultUpdateSpool)
	}
	if u.MaxSizeMiB != 0 && (u.MaxSizeMiB < 1 || u.MaxSizeMiB > 1024) {
		v.fail("update.max_size_mib", "must be 1..1024 (MiB); absent: %d", DefaultUpdateMaxSizeMiB)
	}
	if u.HealthTimeout != 0 && (u.HealthTimeout < 10*time.Second || u.HealthTimeout > time.Hour) {
		v.fail("update.health_timeout", "must be 10s..1h, such as 2m; absent: %s", DefaultHealthTimeout)
	}
}
