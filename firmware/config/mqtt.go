package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lockerd/lockerd/mqtt/clientconf"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Defaults of the mqtt section.
const (
	DefaultTopicPrefix    = "lockers"
	DefaultRemoteOpenMax  = 10
	DefaultRemoteOpenPer  = time.Hour
	DefaultHealthInterval = 15 * time.Minute
	// MinHealthInterval keeps the periodic health report from filling the audit log.
	MinHealthInterval = time.Minute
)

// ErrSecretFile is wrapped by the errors of ReadPassword: the file is missing, empty,
// too large or readable by others (mqtt/clientconf reads it).
var ErrSecretFile = clientconf.ErrSecretFile

// MQTT is the cloud link. Without a broker lockerd runs offline (provisioned through
// the control socket's admin endpoints). Secrets are never inline: the password comes
// from a file, the TLS client key from a key file, so that the config itself can be
// world-readable and shipped in an image.
type MQTT struct {
	// Broker is the broker URL: tcp://host:1883, or ssl:// (also tls://, mqtts://)
	// for TLS. Empty: no cloud link.
	Broker string `yaml:"broker,omitempty"`
	// Brokers are more nodes of the same broker cluster (docs/fleet.md): the link
	// moves to the next when one refuses or drops it. Same scheme kind as Broker
	// (all TLS or all plain): the TLS settings apply to every node.
	Brokers     []string `yaml:"brokers,omitempty"`
	TopicPrefix string   `yaml:"topic_prefix,omitempty"` // default "lockers"
	// Username defaults to the locker id, which per-locker broker ACLs key on. With
	// client certificates the broker usually takes the name from the certificate.
	Username     string `yaml:"username,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"` // absolute; no access for others (0600, or 0640 with group lockerd)
	// Password exists only to refuse an inline secret with a clear message.
	Password string `yaml:"password,omitempty"`
	CAFile   string `yaml:"ca_file,omitempty"`   // PEM; default: the system roots
	CertFile string `yaml:"cert_file,omitempty"` // PEM client certificate
	KeyFile  string `yaml:"key_file,omitempty"`  // PEM client key (a secret: 0600)

	// RemoteOpen limits remote door openings (open-compartment) per locker.
	RemoteOpen RateLimit `yaml:"remote_open,omitempty"`
	// HealthInterval is how often the periodic health event is sent; default 15m.
	HealthInterval time.Duration `yaml:"health_interval,omitempty"`
	// ReconnectMax caps the delay between reconnect attempts (exponential with jitter
	// from 1s); default 2m.
	ReconnectMax time.Duration `yaml:"reconnect_max,omitempty"`

	// Secrets, when set, supplies the password and the TLS client key in place of
	// reading password_file and key_file: lockerd sets it with keys: tpm, where they
	// are sealed by the TPM and the files gone (docs/privacy.md §8). Never in the file.
	Secrets SecretSource `yaml:"-"`
}

// A SecretSource supplies the broker secrets that password_file and key_file name.
type SecretSource interface {
	// Password is the broker password (the first line of password_file).
	Password() (string, error)
	// ClientKey is the PEM client key (the contents of key_file).
	ClientKey() ([]byte, error)
}

// RateLimit allows at most Max events in any window of length Per.
type RateLimit struct {
	Max int           `yaml:"max,omitempty"` // default 10
	Per time.Duration `yaml:"per,omitempty"` // default 1h
}

// Enabled reports whether the cloud link is configured.
func (m *MQTT) Enabled() bool { return m.Broker != "" }

// TLS reports whether the broker URL asks for TLS.
func (m *MQTT) TLS() bool { return clientconf.BrokerTLS(m.Broker) }

// Prefix is the topic prefix, or its default.
func (m *MQTT) Prefix() string {
	if m.TopicPrefix == "" {
		return DefaultTopicPrefix
	}
	return m.TopicPrefix
}

// Limit is the remote-open limit with defaults filled in.
func (m *MQTT) Limit() RateLimit {
	r := m.RemoteOpen
	if r.Max == 0 {
		r.Max = DefaultRemoteOpenMax
	}
	if r.Per == 0 {
		r.Per = DefaultRemoteOpenPer
	}
	return r
}

// Health is the health interval, or its default.
func (m *MQTT) Health() time.Duration {
	if m.HealthInterval == 0 {
		return DefaultHealthInterval
	}
	return m.HealthInterval
}

// validateMQTT validates the mqtt section; an absent section is valid (no cloud link).
func (c *Config) validateMQTT(root *yaml.Node) error {
	v := &validator{root: root}
	v.mqtt(c)
	return errors.Join(v.errs...)
}

func (v *validator) mqtt(c *Config) {
	m := &c.MQTT
	if m.Password != "" {
		v.fail("mqtt.password", "inline secrets are not accepted: put the password in a file (mode 0600) and name it in password_file")
	}
	if !m.Enabled() {
		if !reflect.DeepEqual(*m, MQTT{}) {
			v.fail("mqtt.broker", "required when the mqtt section is present")
		}
		return
	}
	v.brokerURL("mqtt.broker", m.Broker)
	for i, b := range m.Brokers {
		path := fmt.Sprintf("mqtt.brokers[%d]", i)
		if v.brokerURL(path, b) && clientconf.BrokerTLS(b) != m.TLS() {
			v.fail(path, "must use TLS exactly when mqtt.broker does (the TLS settings apply to every node)")
		}
	}
	if protocol.ValidLockerID(c.LockerID) != nil {
		v.fail("locker_id", "with a cloud link it is an MQTT topic level: 1-64 letters, digits, '_' or '-'")
	}
	if _, err := protocol.NewTopics(m.Prefix()); err != nil {
		v.fail("mqtt.topic_prefix", "%s", strings.TrimPrefix(err.Error(), "protocol: bad topic: "))
	}
	if m.Username != "" && (len(m.Username) > 128 || strings.ContainsAny(m.Username, "\x00\n\r")) {
		v.fail("mqtt.username", "at most 128 bytes, no control characters")
	}
	if c.Fleet.Ed25519Public == "" {
		v.fail("fleet.ed25519_public", "required with a cloud link: commands are verified with it")
	}
	for _, f := range []struct{ path, file string }{
		{"mqtt.password_file", m.PasswordFile}, {"mqtt.ca_file", m.CAFile},
		{"mqtt.cert_file", m.CertFile}, {"mqtt.key_file", m.KeyFile},
	} {
		if f.file != "" && !filepath.IsAbs(f.file) {
			v.fail(f.path, "must be an absolute path")
		}
	}
	if (m.CertFile == "") != (m.KeyFile == "") {
		v.fail("mqtt.cert_file", "cert_file and key_file go together")
	}
	if !m.TLS() && (m.CAFile != "" || m.CertFile != "" || m.KeyFile != "") {
		v.fail("mqtt.broker", "ca_file, cert_file and key_file need a TLS broker URL (ssl://)")
	}
	if m.RemoteOpen.Max < 0 || m.RemoteOpen.Max > 1000 {
		v.fail("mqtt.remote_open.max", "must be 1..1000 (default %d)", DefaultRemoteOpenMax)
	}
	if m.RemoteOpen.Per < 0 || m.RemoteOpen.Per > 7*24*time.Hour {
		v.fail("mqtt.remote_open.per", "must be at most 168h (default %v)", DefaultRemoteOpenPer)
	}
	if m.ReconnectMax != 0 && (m.ReconnectMax < time.Second || m.ReconnectMax > time.Hour) {
		v.fail("mqtt.reconnect_max", "must be between 1s and 1h (default 2m)")
	}
	if m.HealthInterval != 0 && (m.HealthInterval < MinHealthInterval || m.HealthInterval > 24*time.Hour) {
		v.fail("mqtt.health_interval", "must be between %v and 24h", MinHealthInterval)
	}
}

// ReadPassword reads the broker password from password_file: the first line, without
// its line ending. The file must not be readable by others (its group may read it).
// It returns "" when no file is configured.
func (m *MQTT) ReadPassword() (string, error) {
	if m.PasswordFile == "" {
		return "", nil
	}
	if m.Secrets != nil {
		return m.Secrets.Password()
	}
	pw, err := clientconf.ReadSecret(m.PasswordFile, clientconf.NotOthers)
	if err != nil {
		return "", fmt.Errorf("mqtt.password_file: %w", err) // named as TLSConfig names its files
	}
	return pw, nil
}

// TLSConfig builds the cloud link's TLS configuration, nil without a TLS broker URL:
// the configured CA (or the system roots) and, if configured, the client certificate
// the broker maps to this locker's user name. Its key file must not be readable by
// others.
func (m *MQTT) TLSConfig() (*tls.Config, error) {
	if !m.TLS() {
		return nil, nil
	}
	var server string
	if u, err := url.Parse(m.Broker); err == nil {
		server = u.Hostname()
	}
	files := clientconf.TLSFiles{CA: m.CAFile, Cert: m.CertFile, Key: m.KeyFile,
		CAName: "mqtt.ca_file", CertName: "mqtt.cert_file", KeyName: "mqtt.key_file"}
	if m.Secrets != nil && m.KeyFile != "" {
		key, err := m.Secrets.ClientKey()
		if err != nil {
			return nil, fmt.Errorf("mqtt.key_file: %w", err)
		}
		files.KeyPEM = key
	}
	return files.Config(server, clientconf.NotOthers)
}

// brokerURL checks one broker URL at path; it reports whether the URL is usable.
func (v *validator) brokerURL(path, broker string) bool {
	u, err := url.Parse(broker)
	switch {
	case err != nil:
		v.fail(path, "not a URL: want tcp://host:1883 or ssl://host:8883")
	case !clientconf.PlainScheme(u.Scheme) && !clientconf.TLSScheme(u.Scheme):
		v.fail(path, "scheme %q: want tcp, mqtt, ssl, tls or mqtts", u.Scheme)
	case u.Hostname() == "" || u.Port() == "":
		v.fail(path, "needs a host and a port, e.g. ssl://broker.example:8883")
	case u.User != nil:
		v.fail(path, "must not carry credentials: use username and password_file")
	case u.Path != "" || u.RawQuery != "":
		v.fail(path, "must be scheme://host:port only")
	default:
		return true
	}
	return false
}
