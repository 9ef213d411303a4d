package tpm

import (
	"crypto/rand"
	"fmt"
	"regexp"

	"github.com/lockerd/lockerd/locker/privacy"
)

// Device secrets other than keys (a broker password, a TLS client key), sealed by the
// TPM on the card.

// secretName keeps sealed-secret names safe as file names.
var secretName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// Seal seals data (a broker password, a TLS client key) as the secret name:
// a fresh 32-byte key sealed by the TPM, and data encrypted under it
// (privacy.SealBytes), written durably to StateDir/tpm/<name>.sealed.
func (s *Store) Seal(name string, data []byte) error {
	if !secretName.MatchString(name) {
		return fmt.Errorf("tpm: bad secret name %q", name)
	}
	if len(data) > MaxSecret {
		return fmt.Errorf("tpm: secret %s has %d bytes, more than %d", name, len(data), MaxSecret)
	}
	var key [32]byte
	defer clear(key[:])
	_, _ = rand.Read(key[:])
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	b, err := s.create(sealedTemplate, key[:])
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("tpm: seal %s: %w", name, err)
	}
	b.data = privacy.SealBytes(key, data, []byte(name))
	return privacy.WriteKeyFile(s.dir, secretFile(name), b.encode())
}

// Unseal returns the secret name sealed by Seal; an error wrapping fs.ErrNotExist
// when there is none. The caller clears the result when done.
func (s *Store) Unseal(name string) ([]byte, error) {
	if !secretName.MatchString(name) {
		return nil, fmt.Errorf("tpm: bad secret name %q", name)
	}
	b, err := s.readBlob(secretFile(name))
	if err != nil {
		return nil, fmt.Errorf("tpm: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	k, err := s.unsealBlob(b)
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("tpm: %s: %w", name, err)
	}
	defer clear(k)
	if len(k) != 32 {
		return nil, fmt.Errorf("tpm: %s: %w", name, privacy.ErrCorrupt)
	}
	plain, err := privacy.OpenBytes([32]byte(k), b.data, []byte(name))
	if err != nil {
		return nil, fmt.Errorf("tpm: %s: %w", name, err)
	}
	return plain, nil
}

// HasSecret reports whether the secret name is sealed on the card.
func (s *Store) HasSecret(name string) bool {
	_, err := s.readBlob(secretFile(name))
	return err == nil
}
