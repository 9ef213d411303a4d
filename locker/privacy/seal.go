package privacy

import (
	"crypto/rand"
	"errors"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sealed byte layout: version 0x01 | 12-byte random nonce | ChaCha20-Poly1305
// ciphertext and 16-byte tag (RFC 8439).
const (
	sealVersion = 1
	sealHeader  = 1 + chacha20poly1305.NonceSize
	// SealOverhead is how many bytes SealBytes adds to the plaintext.
	SealOverhead = sealHeader + chacha20poly1305.Overhead
)

// ErrUnseal is returned by OpenBytes for data that is malformed, was sealed
// under another key or additional data, or was altered.
var ErrUnseal = errors.New("privacy: sealed data cannot be opened")

// Seal returns HMAC-SHA256(key, d): the form in which the locker indexes a
// digest under an epoch key. Once the epoch key is destroyed, a sealed digest
// can no longer be linked to the digest the cloud knows.
func Seal(key [32]byte, d Digest) Digest { return mac(&key, d[:]) }

// SealBytes encrypts and authenticates plaintext and authenticates additional
// with ChaCha20-Poly1305 under key, using a random nonce. Random 96-bit
// nonces are safe for far more messages than an epoch sees (about 2^32 per
// key).
func SealBytes(key [32]byte, plaintext, additional []byte) []byte {
	var nonce [chacha20poly1305.NonceSize]byte
	// crypto/rand.Read never fails (it crashes the program rather than
	// return weak randomness).
	_, _ = rand.Read(nonce[:])
	return sealWithNonce(key, nonce, plaintext, additional)
}

func sealWithNonce(key [32]byte, nonce [chacha20poly1305.NonceSize]byte, plaintext, additional []byte) []byte {
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		panic("privacy: chacha20poly1305 rejected a 32-byte key") // unreachable
	}
	out := make([]byte, sealHeader, sealHeader+len(plaintext)+aead.Overhead())
	out[0] = sealVersion
	copy(out[1:], nonce[:])
	return aead.Seal(out, nonce[:], plaintext, additional)
}

// OpenBytes reverses SealBytes. It returns an error wrapping ErrUnseal if
// sealed is malformed, the key or additional data differ, or the data was
// altered.
func OpenBytes(key [32]byte, sealed, additional []byte) ([]byte, error) {
	if len(sealed) < SealOverhead || sealed[0] != sealVersion {
		return nil, ErrUnseal
	}
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		return nil, ErrUnseal
	}
	out, err := aead.Open(nil, sealed[1:sealHeader], sealed[sealHeader:], additional)
	if err != nil {
		return nil, ErrUnseal
	}
	return out, nil
}
