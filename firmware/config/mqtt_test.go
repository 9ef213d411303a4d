package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withMQTT appends an mqtt section to the example config.
func withMQTT(t *testing.T, section string) string {
	return example(t) + "mqtt:\n" + section
}

func TestMQTTSection(t *testing.T) {
	doc := withMQTT(t, `  broker: ssl://broker.example:8883
  topic_prefix: fleet/eu
  ca_file: /etc/lockerd/ca.pem
  cert_file: /etc/lockerd/client.pem
  key_file: /etc/lockerd/client.key
  remote_open: {max: 3, per: 10m}
  health_interval: 5m
`)
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	m := c.MQTT
	if !m.Enabled() || !m.TLS() || m.Prefix() != "fleet/eu" || m.Limit() != (RateLimit{Max: 3, Per: 10 * time.Minute}) || m.Health() != 5*time.Minute {
		t.Fatalf("%+v", m)
	}
	var none MQTT
	if none.Enabled() || none.Prefix() != DefaultTopicPrefix || none.Limit() != (RateLimit{DefaultRemoteOpenMax, DefaultRemoteOpenPer}) || none.Health() != DefaultHealthInterval {
		t.Fatalf("defaults: %+v", none)
	}
}

func TestMQTTErrors(t *testing.T) {
	cases := []struct {
		name    string
		section string
		swap    [2]string // optional replacement in the rest of the document
		want    string
	}{
		{"inline password", "  broker: tcp://b:1883\n  password: hunter2\n", [2]string{}, "mqtt.password (line 38): inline secrets are not accepted"},
		{"no broker", "  topic_prefix: x\n", [2]string{}, "mqtt.broker (line 36): required when the mqtt section is present"},
		{"bad scheme", "  broker: http://b:80\n", [2]string{}, `mqtt.broker (line 37): scheme "http"`},
		{"no port", "  broker: tcp://b\n", [2]string{}, "mqtt.broker (line 37): needs a host and a port"},
		{"credentials in url", "  broker: tcp://u:p@b:1883\n", [2]string{}, "mqtt.broker (line 37): must not carry credentials"},
		{"wildcard prefix", "  broker: tcp://b:1883\n  topic_prefix: a/+/b\n", [2]string{}, "mqtt.topic_prefix (line 38): prefix \"a/+/b\" contains a wildcard"},
		{"relative password file", "  broker: tcp://b:1883\n  password_file: pw\n", [2]string{}, "mqtt.password_file (line 38): must be an absolute path"},
		{"cert without key", "  broker: ssl://b:8883\n  cert_file: /c.pem\n", [2]string{}, "mqtt.cert_file (line 38): cert_file and key_file go together"},
		{"tls files on plain url", "  broker: tcp://b:1883\n  ca_file: /ca.pem\n", [2]string{}, "mqtt.broker (line 37): ca_file, cert_file and key_file need a TLS broker URL"},
		{"rate limit", "  broker: tcp://b:1883\n  remote_open: {max: -1}\n", [2]string{}, "mqtt.remote_open.max (line 38): must be 1..1000"},
		{"reconnect too eager", "  broker: tcp://b:1883\n  reconnect_max: 10ms\n", [2]string{}, "mqtt.reconnect_max (line 38): must be between 1s and 1h"},
		{"health too often", "  broker: tcp://b:1883\n  health_interval: 1s\n", [2]string{}, "mqtt.health_interval (line 38): must be between 1m0s and 24h"},
		{"locker id not a topic level", "  broker: tcp://b:1883\n", [2]string{"locker_id: LK-0001", "locker_id: LK.0001"}, "locker_id (line 2): with a cloud link it is an MQTT topic level"},
		{"no command key", "  broker: tcp://b:1883\n", [2]string{"  ed25519_public: 3b6a", "  # ed25519_public: ccb0"}, "fleet.ed25519_public (line 7): required with a cloud link"},
		{"unknown field", "  broker: tcp://b:1883\n  brokr: tcp://c:1883\n", [2]string{}, "mqtt.brokr (line 38): unknown key; did you mean broker?"},
		{"cluster node not a url", "  broker: tcp://b:1883\n  brokers: [tcp://c:1883, \"c:1883\"]\n", [2]string{}, "mqtt.brokers[1] (line 38): scheme \"c\": want tcp, mqtt, ssl, tls or mqtts"},
		{"cluster node without tls", "  broker: ssl://b:8883\n  brokers: [tcp://c:1883]\n", [2]string{}, "mqtt.brokers[0] (line 38): must use TLS exactly when mqtt.broker does"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := withMQTT(t, tc.section)
			if tc.swap[0] != "" {
				if !strings.Contains(doc, tc.swap[0]) {
					t.Fatalf("example lacks %q", tc.swap[0])
				}
				doc = strings.Replace(doc, tc.swap[0], tc.swap[1], 1)
			}
			_, err := Parse([]byte(doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestReadPassword: the mqtt section reads its password file with mqtt/clientconf
// (whose tests cover every check of the file) under lockerd's rule: its group may
// read the file, others may not.
func TestReadPassword(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	m := MQTT{Broker: "tcp://b:1883", PasswordFile: pw}
	for _, tc := range []struct {
		mode os.FileMode
		want string // "" for ErrSecretFile
	}{{0o640, "s3cret"}, {0o644, ""}} {
		if err := os.WriteFile(pw, []byte("s3cret\r\nignored\n"), tc.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(pw, tc.mode); err != nil {
			t.Fatal(err)
		}
		got, err := m.ReadPassword()
		if tc.want == "" && (!errors.Is(err, ErrSecretFile) || strings.Contains(err.Error(), "s3cret")) {
			t.Fatalf("mode %v: err = %v, want ErrSecretFile without the secret", tc.mode, err)
		}
		if tc.want != "" && (err != nil || got != tc.want) {
			t.Fatalf("mode %v: got %q, %v; want %q", tc.mode, got, err, tc.want)
		}
	}
	if pw, err := (&MQTT{}).ReadPassword(); pw != "" || err != nil {
		t.Fatalf("no file configured: %q %v", pw, err)
	}
}

// TestTLSConfig: no TLS configuration for a plain broker URL; for a TLS one, the
// broker's host name and errors that name the mqtt setting.
func TestTLSConfig(t *testing.T) {
	if c, err := (&MQTT{Broker: "tcp://b:1883"}).TLSConfig(); c != nil || err != nil {
		t.Fatalf("plain broker: %v %v", c, err)
	}
	if c, err := (&MQTT{Broker: "ssl://broker.example:8883"}).TLSConfig(); err != nil || c.ServerName != "broker.example" {
		t.Fatalf("TLS broker: %+v %v", c, err)
	}
	missing := filepath.Join(t.TempDir(), "ca.pem")
	if _, err := (&MQTT{Broker: "ssl://b:8883", CAFile: missing}).TLSConfig(); err == nil || !strings.HasPrefix(err.Error(), "mqtt.ca_file: ") {
		t.Fatalf("missing CA file: %v", err)
	}
}

// FuzzMQTTSection parses arbitrary mqtt sections: never a panic, and what validates
// is usable (a broker URL with a host and port, a valid topic prefix).
func FuzzMQTTSection(f *testing.F) {
	f.Add("  broker: ssl://b:8883\n  ca_file: /ca.pem\n")
	f.Add("  broker: tcp://b:1883\n  topic_prefix: a/b\n  remote_open: {max: 3, per: 1m}\n")
	f.Add("  password: x\n")
	doc := []byte(example(f))
	f.Fuzz(func(t *testing.T, section string) {
		c, err := Parse(append(append([]byte(nil), doc...), "mqtt:\n"+section...))
		if err != nil || !c.MQTT.Enabled() {
			return
		}
		if c.MQTT.Password != "" {
			t.Fatal("an inline password validated")
		}
		if !strings.Contains(c.MQTT.Broker, "://") || c.MQTT.Limit().Max < 1 || c.MQTT.Health() < MinHealthInterval {
			t.Fatalf("validated but unusable: %+v", c.MQTT)
		}
	})
}
