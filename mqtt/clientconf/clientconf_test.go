package clientconf_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/clientconf"
)

func write(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSchemes(t *testing.T) {
	for _, s := range []string{"ssl", "tls", "mqtts"} {
		if !clientconf.TLSScheme(s) || clientconf.PlainScheme(s) {
			t.Errorf("%s: want TLS", s)
		}
	}
	for _, s := range []string{"tcp", "mqtt"} {
		if clientconf.TLSScheme(s) || !clientconf.PlainScheme(s) {
			t.Errorf("%s: want plain", s)
		}
	}
	if !clientconf.BrokerTLS("mqtts://b:8883") || clientconf.BrokerTLS("tcp://b:1883") || clientconf.BrokerTLS("%zz") {
		t.Error("BrokerTLS")
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name      string
		path      string
		forbidden os.FileMode
		want      string // "" for an error
		why       string
	}{
		{"first line only", write(t, dir, "ok", "s3cret\r\nignored\n", 0o600), clientconf.OwnerOnly, "s3cret", ""},
		{"group may read", write(t, dir, "group", "s3cret\n", 0o640), clientconf.NotOthers, "s3cret", ""},
		{"group may not read", filepath.Join(dir, "group"), clientconf.OwnerOnly, "", "readable by others"},
		{"world readable", write(t, dir, "open", "s3cret\n", 0o644), clientconf.NotOthers, "", "readable by others"},
		{"empty", write(t, dir, "empty", "\n", 0o600), clientconf.NotOthers, "", "is empty"},
		{"too large", write(t, dir, "large", strings.Repeat("s3cret", 1000), 0o600), clientconf.NotOthers, "", "larger than"},
		{"missing", filepath.Join(dir, "nope"), clientconf.NotOthers, "", "no such file"},
		{"a directory", dir, clientconf.NotOthers, "", "not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := clientconf.ReadSecret(tc.path, tc.forbidden)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, clientconf.ErrSecretFile) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("err = %v, want ErrSecretFile saying %q", err, tc.why)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error leaks the secret: %v", err)
			}
		})
	}
}

// selfSigned writes a certificate and its key (PEM) into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "L1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = write(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	keyFile = write(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})), 0o600)
	return certFile, keyFile
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	names := clientconf.TLSFiles{CAName: "mqtt.ca_file", CertName: "mqtt.cert_file", KeyName: "mqtt.key_file"}
	files := func(ca, cert, key string) clientconf.TLSFiles {
		f := names
		f.CA, f.Cert, f.Key = ca, cert, key
		return f
	}
	c, err := files(cert, cert, key).Config("broker.example", clientconf.NotOthers)
	if err != nil || c.ServerName != "broker.example" || c.RootCAs == nil || len(c.Certificates) != 1 {
		t.Fatalf("full config: %+v %v", c, err)
	}
	if c, err := files("", "", "").Config("b", clientconf.NotOthers); err != nil || c.RootCAs != nil || c.Certificates != nil {
		t.Fatalf("system roots, no client certificate: %+v %v", c, err)
	}
	loose := write(t, dir, "loose.pem", "x", 0o640)
	for _, tc := range []struct {
		name      string
		files     clientconf.TLSFiles
		forbidden os.FileMode
		want      string
	}{
		{"missing CA", files(filepath.Join(dir, "nope"), "", ""), clientconf.NotOthers, "mqtt.ca_file: open "},
		{"CA without PEM", files(key, "", ""), clientconf.NotOthers, "mqtt.ca_file " + key + " holds no PEM certificate"},
		{"cert without key", files("", cert, ""), clientconf.NotOthers, "mqtt.cert_file and mqtt.key_file go together"},
		{"key readable by the group", files("", cert, loose), clientconf.OwnerOnly, "mqtt.key_file " + loose + " is readable by others"},
		{"missing key", files("", cert, filepath.Join(dir, "nope")), clientconf.NotOthers, "mqtt.key_file: stat "},
		{"key that is no key", files("", cert, loose), clientconf.NotOthers, "client certificate: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.files.Config("b", tc.forbidden); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
