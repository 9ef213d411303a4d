package main

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
)

// pemKey encodes key as keygen writes it.
func pemKey(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// FuzzParsePrivateKey reads arbitrary key files. An accepted file starts with a
// "PRIVATE KEY" PEM block; its key writes back out as PKCS#8 PEM and reads in again
// as an equal key, and the two kinds lockerctl uses work (an Ed25519 key signs what its public key verifies, an X25519 key has a
// 32-byte public key); a refusal names the file and does not quote its contents.
func FuzzParsePrivateKey(f *testing.F) {
	signing := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	x, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		f.Fatal(err)
	}
	p256, err := ecdh.P256().NewPrivateKey(append(bytes.Repeat([]byte{0}, 31), 9))
	if err != nil {
		f.Fatal(err)
	}
	good := pemKey(f, signing)
	f.Add(good)
	f.Add(pemKey(f, x))
	f.Add(pemKey(f, p256))
	f.Add(append([]byte("# the fleet's signing key\n"), good...))
	f.Add(bytes.Replace(good, []byte("PRIVATE KEY"), []byte("EC PRIVATE KEY"), 2))
	f.Add(good[:len(good)/2])
	f.Add(bytes.Replace(good, []byte("-----\n"), []byte("-----\nProc-Type: 4,ENCRYPTED\n\n"), 1))
	der, _ := x509.MarshalPKIXPublicKey(signing.Public())
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{})
	const path = "/etc/lockerctl/fleet.pem"
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := parsePrivateKey(data, path)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, path+": ") || len(msg) > len(path)+512 {
				t.Fatalf("error %q: want the file's name and a bounded reason", msg)
			}
			if block, _ := pem.Decode(data); block != nil && len(block.Bytes) >= 8 {
				if strings.Contains(msg, string(block.Bytes)) || strings.Contains(strings.ToLower(msg), hex.EncodeToString(block.Bytes[:8])) {
					t.Fatalf("error %q quotes the key file", msg)
				}
			}
			return
		}
		if block, _ := pem.Decode(data); block == nil || block.Type != "PRIVATE KEY" {
			t.Fatalf("accepted a file whose first PEM block is not a PKCS#8 private key")
		}
		k, ok := key.(interface{ Equal(crypto.PrivateKey) bool })
		if !ok {
			t.Fatalf("parsed a %T, which has no Equal", key)
		}
		again, err := parsePrivateKey(pemKey(t, key), path)
		if err != nil || !k.Equal(again) {
			t.Fatalf("a %T does not survive being written out and read again: %v", key, err)
		}
		switch key := key.(type) {
		case ed25519.PrivateKey:
			msg := []byte("lockerctl")
			if !ed25519.Verify(key.Public().(ed25519.PublicKey), msg, ed25519.Sign(key, msg)) {
				t.Fatal("a parsed Ed25519 key signs what its public key does not verify")
			}
		case *ecdh.PrivateKey:
			if key.Curve() == ecdh.X25519() && len(key.PublicKey().Bytes()) != 32 {
				t.Fatalf("a parsed X25519 key has a %d-byte public key", len(key.PublicKey().Bytes()))
			}
		}
	})
}
