package clientconf_test

import (
	"os"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/mqtt/clientconf"
)

// TestKeyPEM: a client key handed over in memory (sealed by a TPM, the key file
// removed) builds the same client certificate; a wrong one is refused.
func TestKeyPEM(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	pemKey, err := clientconf.ReadSecretFile(key, clientconf.NotOthers, clientconf.MaxKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	f := clientconf.TLSFiles{Cert: cert, Key: key, KeyPEM: pemKey, CertName: "mqtt.cert_file", KeyName: "mqtt.key_file"}
	c, err := f.Config("b", clientconf.NotOthers)
	if err != nil || len(c.Certificates) != 1 {
		t.Fatalf("in-memory key: %v", err)
	}
	f.KeyPEM = []byte("not a key")
	if _, err := f.Config("b", clientconf.NotOthers); err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Fatalf("a bad in-memory key: %v", err)
	}
}

// FuzzFirstLine: the password of a password file's contents is its first line
// without a line ending, never empty, never containing a newline.
func FuzzFirstLine(f *testing.F) {
	f.Add([]byte("hunter2\n"))
	f.Add([]byte("\r\n"))
	f.Add([]byte("a\r\nb"))
	f.Fuzz(func(t *testing.T, data []byte) {
		line, err := clientconf.FirstLine(data)
		if err != nil {
			return
		}
		if line == "" || strings.ContainsRune(line, '\n') || !strings.HasPrefix(string(data), line) {
			t.Fatalf("FirstLine(%q) = %q", data, line)
		}
	})
}
