package main

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lockerd/lockerd/mqtt/clientconf"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// config is lockerctl's configuration file (YAML, unknown fields refused).
type config struct {
	Broker string `yaml:"broker"` // tcp://host:1883, ssl://host:8883
	// Brokers are more URLs of the same broker, a cluster's other nodes (ADR 0057,
	// docs/fleet.md): tried in turn after Broker, at every connect and reconnect. They
	// share Broker's scheme family and TLS files.
	Brokers []string `yaml:"brokers"`
	Prefix  string   `yaml:"topic_prefix"` // as the lockers' mqtt.topic_prefix; default "lockers"
	// ClientPrefix starts every client id; a random suffix keeps two lockerctl
	// processes (events in one terminal, commands in another) from taking over each
	// other's connection. Default "lockerctl"; ACLs can key on it.
	ClientPrefix string `yaml:"client_id_prefix"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	TLS          struct {
		CA   string `yaml:"ca"`
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	// SigningKey is the fleet's Ed25519 private key (PKCS#8 PEM, as
	// `openssl genpkey -algorithm ed25519` writes it): it signs every command.
	SigningKey string `yaml:"signing_key"`
	// X25519Key is the fleet's X25519 private key (PKCS#8 PEM): the digests of
	// waybills, codes and courier credentials are keyed from it and a locker's
	// public key. Needed only by announce, set-code and courier-upsert.
	X25519Key string `yaml:"x25519_key"`
	// Lockers pins each locker's public key (x25519_public, as `lockerd identity`
	// printed it on the locker at installation). Digests are computed only for
	// pinned lockers: a key learnt over MQTT could be a broker's substitute.
	Lockers map[string]string `yaml:"lockers"`
	// LockersFile names a YAML file of more pins (locker id: x25519_public), for
	// fleets whose pins are kept apart from this file; an id in both must agree.
	LockersFile string        `yaml:"lockers_file"`
	Timeout     time.Duration `yaml:"timeout"` // how long to wait for a final reply; default 30s
}

func loadConfig(path string) (*config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseConfig(data, path)
}

// parseConfig decodes a configuration file's contents; relative paths in it are taken
// relative to path's directory.
func parseConfig(data []byte, path string) (*config, error) {
	var c config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case c.Broker == "":
		return nil, fmt.Errorf("%s: broker is required", path)
	case c.SigningKey == "":
		return nil, fmt.Errorf("%s: signing_key is required", path)
	}
	if c.Prefix == "" {
		c.Prefix = "lockers"
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	base := filepath.Dir(path) // relative key and certificate paths are relative to the file
	for _, p := range []*string{&c.PasswordFile, &c.TLS.CA, &c.TLS.Cert, &c.TLS.Key, &c.SigningKey, &c.X25519Key, &c.LockersFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	return &c, nil
}

// loadPins merges the pins of LockersFile into Lockers.
func (c *config) loadPins() error {
	if c.LockersFile == "" {
		return nil
	}
	data, err := os.ReadFile(c.LockersFile)
	if err != nil {
		return err
	}
	var more map[string]string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&more); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", c.LockersFile, err)
	}
	if c.Lockers == nil {
		c.Lockers = map[string]string{}
	}
	for id, pub := range more {
		if old, ok := c.Lockers[id]; ok && !strings.EqualFold(old, pub) {
			return fmt.Errorf("%s: locker %s is pinned to another key in the configuration", c.LockersFile, id)
		}
		c.Lockers[id] = pub
	}
	return nil
}

// fleetConfig turns the file into a fleet.Config, reading the keys and secrets it names.
func (c *config) fleetConfig() (fleet.Config, error) {
	topics, err := protocol.NewTopics(c.Prefix)
	if err != nil {
		return fleet.Config{}, err
	}
	key, err := readPrivateKey(c.SigningKey)
	if err != nil {
		return fleet.Config{}, err
	}
	signing, ok := key.(ed25519.PrivateKey)
	if !ok {
		return fleet.Config{}, fmt.Errorf("%s: not an Ed25519 private key", c.SigningKey)
	}
	prefix := c.ClientPrefix
	if prefix == "" {
		prefix = "lockerctl"
	}
	id := prefix + "-" + rand.Text()[:12]
	cc := fleet.Config{Broker: c.Broker, Brokers: c.Brokers, ClientID: id, Username: c.Username, Topics: topics, SigningKey: signing,
		Timeout: 10 * time.Second, ResendAfter: 10 * time.Second}
	if c.X25519Key != "" {
		// Events and replies are verified under each pinned locker's event key
		// (docs/protocol.md §5.3); an unpinned locker's are dropped and counted.
		cc.EventKey = c.eventKeys()
	}
	if c.PasswordFile != "" {
		if cc.Password, err = clientconf.ReadSecret(c.PasswordFile, clientconf.OwnerOnly); err != nil {
			return fleet.Config{}, err
		}
	}
	u, err := url.Parse(c.Broker)
	if err != nil || u.Hostname() == "" {
		return fleet.Config{}, fmt.Errorf("broker %q: want scheme://host:port", c.Broker)
	}
	tlsScheme := clientconf.TLSScheme(u.Scheme)
	for _, b := range c.Brokers {
		// One TLS configuration serves every node: a node of another scheme family
		// would be dialled with the wrong one.
		if bu, err := url.Parse(b); err != nil || bu.Hostname() == "" {
			return fleet.Config{}, fmt.Errorf("brokers: %q: want scheme://host:port", b)
		} else if clientconf.TLSScheme(bu.Scheme) != tlsScheme {
			return fleet.Config{}, fmt.Errorf("brokers: %q: every node must use TLS or none (broker is %q)", b, c.Broker)
		}
	}
	hasTLS := c.TLS.CA != "" || c.TLS.Cert != "" || c.TLS.Key != ""
	switch {
	case hasTLS && !tlsScheme:
		return fleet.Config{}, fmt.Errorf("tls files given but broker %q is not ssl://, tls:// or mqtts://", c.Broker)
	case tlsScheme:
		if cc.TLS, err = c.tlsConfig(u.Hostname()); err != nil {
			return fleet.Config{}, err
		}
		if len(c.Brokers) > 0 {
			// Each node is checked against its own host name: a direct TLS dial takes
			// it from the address when ServerName is empty (not through a proxy).
			cc.TLS.ServerName = ""
		}
	}
	return cc, nil
}

// tlsConfig builds the TLS configuration of the tls section; the key file must be
// readable by its owner only.
func (c *config) tlsConfig(serverName string) (*tls.Config, error) {
	files := clientconf.TLSFiles{CA: c.TLS.CA, Cert: c.TLS.Cert, Key: c.TLS.Key, CAName: "tls.ca", CertName: "tls.cert", KeyName: "tls.key"}
	return files.Config(serverName, clientconf.OwnerOnly)
}

// keys derives the digest keys shared with a pinned locker.
func (c *config) keys(lockerID string) (*fleet.Keys, error) {
	if err := c.loadPins(); err != nil {
		return nil, err
	}
	pub, ok := c.Lockers[lockerID]
	if !ok {
		return nil, fmt.Errorf("locker %s is not pinned in the configuration's lockers (its x25519_public from `lockerd identity`)", lockerID)
	}
	var devicePub [32]byte
	if b, err := hex.DecodeString(pub); err != nil || len(b) != 32 {
		return nil, fmt.Errorf("lockers.%s: want 64 hex digits", lockerID)
	} else {
		copy(devicePub[:], b)
	}
	if c.X25519Key == "" {
		return nil, errors.New("x25519_key is required to compute digests")
	}
	key, err := readPrivateKey(c.X25519Key)
	if err != nil {
		return nil, err
	}
	x, ok := key.(*ecdh.PrivateKey)
	if !ok || x.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("%s: not an X25519 private key", c.X25519Key)
	}
	var fleetPriv [32]byte
	copy(fleetPriv[:], x.Bytes())
	return fleet.DeriveKeys(fleetPriv, devicePub, lockerID)
}

// readPrivateKey reads a fleet key file, which must be readable by its owner only:
// stricter than lockerd (which allows its group), because these are the fleet's keys.
func readPrivateKey(path string) (any, error) {
	if err := clientconf.CheckPrivate(path, clientconf.OwnerOnly); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parsePrivateKey(data, path)
}

// parsePrivateKey decodes a key file's contents, the first PEM block, which must be a
// PKCS#8 private key; errors name the file, never its contents.
func parsePrivateKey(data []byte, path string) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: want a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// keygen writes a new fleet key pair of each kind into dir (0600, refusing to
// overwrite) and returns the lockers' fleet section for them.
func keygen(dir string) (string, error) {
	_, signing, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	files := []struct {
		name string
		key  any
	}{{"fleet.pem", signing}, {"fleet-x25519.pem", x}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for _, f := range files { // refuse before writing either: never half a new fleet
		if _, err := os.Stat(filepath.Join(dir, f.name)); err == nil {
			return "", fmt.Errorf("%s exists: keygen never replaces a fleet key", filepath.Join(dir, f.name))
		}
	}
	for _, kf := range files {
		der, err := x509.MarshalPKCS8PrivateKey(kf.key)
		if err != nil {
			return "", err
		}
		f, err := os.OpenFile(filepath.Join(dir, kf.name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", err
		}
		werr := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := errors.Join(werr, f.Close()); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("fleet:\n  x25519_public: %x\n  ed25519_public: %x\n",
		x.PublicKey().Bytes(), signing.Public().(ed25519.PublicKey)), nil
}
