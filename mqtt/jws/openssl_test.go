package jws

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lockerd/lockerd/internal/testenv"
)

// opensslKey makes an Ed25519 key with openssl and returns the PEM paths
// and the same key parsed by Go, so each side signs with its own code.
func opensslKey(t *testing.T, openssl string) (privPEM, pubPEM string, priv ed25519.PrivateKey) {
	t.Helper()
	dir := t.TempDir()
	privPEM, pubPEM = filepath.Join(dir, "key.pem"), filepath.Join(dir, "pub.pem")
	run(t, openssl, "genpkey", "-algorithm", "ed25519", "-out", privPEM)
	run(t, openssl, "pkey", "-in", privPEM, "-pubout", "-out", pubPEM)
	raw, err := os.ReadFile(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatal("openssl wrote no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("parse openssl key: %v", err)
	}
	return privPEM, pubPEM, k.(ed25519.PrivateKey)
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
	return out
}

func TestOpenSSLInterop(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	privPEM, pubPEM, priv := opensslKey(t, openssl)
	pub := priv.Public().(ed25519.PublicKey)
	dir := t.TempDir()
	input, sigFile := filepath.Join(dir, "input"), filepath.Join(dir, "sig")
	payload := []byte(`{"aud":"L1","jti":"c0ffee","iat":1700000000,"exp":1700000300,"typ":"ping","body":{}}`)

	t.Run("openssl signs, Go verifies", func(t *testing.T) {
		signingInput := b64(`{"alg":"EdDSA"}`) + "." + base64.RawURLEncoding.EncodeToString(payload)
		if err := os.WriteFile(input, []byte(signingInput), 0o600); err != nil {
			t.Fatal(err)
		}
		run(t, openssl, "pkeyutl", "-sign", "-inkey", privPEM, "-rawin", "-in", input, "-out", sigFile)
		sig, err := os.ReadFile(sigFile)
		if err != nil {
			t.Fatal(err)
		}
		token := signingInput + "." + base64.RawURLEncoding.EncodeToString(sig)
		got, err := Verify([]byte(token), 0, pub)
		if err != nil {
			t.Fatalf("Go rejects an openssl token: %v", err)
		}
		if !bytes.Equal(got.Payload, payload) {
			t.Fatalf("payload %q", got.Payload)
		}
	})

	t.Run("Go signs, openssl verifies", func(t *testing.T) {
		token, err := Sign(priv, "fleet-1", payload)
		if err != nil {
			t.Fatal(err)
		}
		parts := bytes.Split(token, []byte("."))
		sig, err := base64.RawURLEncoding.DecodeString(string(parts[2]))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(input, token[:bytes.LastIndexByte(token, '.')], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
			t.Fatal(err)
		}
		out := run(t, openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pubPEM, "-rawin", "-in", input, "-sigfile", sigFile)
		if !bytes.Contains(out, []byte("Signature Verified Successfully")) {
			t.Fatalf("openssl: %s", out)
		}
	})

	t.Run("openssl rejects a tampered Go token", func(t *testing.T) {
		token, err := Sign(priv, "", payload)
		if err != nil {
			t.Fatal(err)
		}
		parts := bytes.Split(token, []byte("."))
		sig, _ := base64.RawURLEncoding.DecodeString(string(parts[2]))
		tampered := append(append(parts[0], '.'), base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"L2"}`))...)
		if err := os.WriteFile(input, tampered, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pubPEM, "-rawin", "-in", input, "-sigfile", sigFile).CombinedOutput()
		if err == nil {
			t.Fatalf("openssl verified a tampered token: %s", out)
		}
	})
}
