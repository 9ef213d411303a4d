package tpm

import (
	"fmt"
	"path/filepath"

	"github.com/google/go-tpm/tpm2"

	"github.com/lockerd/lockerd/locker/privacy"
)

// The TPM objects the store uses: their templates, the storage root key they are
// created under, and creating, loading, flushing and unsealing them.

// fixed are the attributes of every object: it never leaves this TPM (not even
// duplicated under another parent), and using it needs only the empty password
// with no dictionary-attack lockout (the station has no secret to authorise with).
var fixed = tpm2.TPMAObject{FixedTPM: true, FixedParent: true, UserWithAuth: true, NoDA: true}

// sealedTemplate is a sealed data object (a keyed hash with no scheme): Unseal
// returns its data.
var sealedTemplate = tpm2.TPMTPublic{Type: tpm2.TPMAlgKeyedHash, NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: fixed}

// hmacTemplate is an imported HMAC-SHA256 key: it signs (TPM2_HMAC) and cannot be
// unsealed (TPM_RC_ATTRIBUTES).
var hmacTemplate = func() tpm2.TPMTPublic {
	attrs := fixed
	attrs.SignEncrypt = true
	return tpm2.TPMTPublic{
		Type: tpm2.TPMAlgKeyedHash, NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: attrs,
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{
				Scheme:  tpm2.TPMAlgHMAC,
				Details: tpm2.NewTPMUSchemeKeyedHash(tpm2.TPMAlgHMAC, &tpm2.TPMSSchemeHMAC{HashAlg: tpm2.TPMAlgSHA256}),
			},
		}),
	}
}()

// srkHandle returns the storage root key, creating it on first use. The caller
// holds s.mu (or owns s).
func (s *Store) srkHandle() (tpm2.NamedHandle, error) {
	if s.srk != nil {
		return *s.srk, nil
	}
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(s.tpm)
	if err != nil {
		return tpm2.NamedHandle{}, fmt.Errorf("tpm: create the storage root key: %w", err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		s.flush(rsp.ObjectHandle)
		return tpm2.NamedHandle{}, fmt.Errorf("tpm: the storage root key's public area: %w", err)
	}
	s.srk, s.srkPub = &tpm2.NamedHandle{Handle: rsp.ObjectHandle, Name: rsp.Name}, *pub
	return *s.srk, nil
}

// secretSession is a use-once HMAC session salted with the SRK, which encrypts the
// command's first parameter (dir EncryptIn: a key imported or sealed) or the
// response's (EncryptOut: a secret unsealed or read) with AES-128-CFB, so that the
// bus between the SoC and the TPM never carries a device secret in clear; empty
// authorisation. The caller holds s.mu and has made the SRK (srkHandle).
func (s *Store) secretSession(dir tpm2.AuthOption) tpm2.Session {
	return tpm2.HMAC(tpm2.TPMAlgSHA256, 16, dir, tpm2.Salted(s.srk.Handle, s.srkPub))
}

var (
	encryptIn  = tpm2.AESEncryption(128, tpm2.EncryptIn)
	encryptOut = tpm2.AESEncryption(128, tpm2.EncryptOut)
)

func parentAuth(h tpm2.NamedHandle) tpm2.AuthHandle {
	return tpm2.AuthHandle{Handle: h.Handle, Name: h.Name, Auth: tpm2.PasswordAuth(nil)}
}

// create makes a child of the SRK holding data. The caller holds s.mu.
func (s *Store) create(template tpm2.TPMTPublic, data []byte) (blob, error) {
	parent, err := s.srkHandle()
	if err != nil {
		return blob{}, err
	}
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{Handle: parent.Handle, Name: parent.Name, Auth: s.secretSession(encryptIn)},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: data}),
		}},
		InPublic: tpm2.New2B(template),
	}.Execute(s.tpm)
	if err != nil {
		return blob{}, err
	}
	return blob{public: tpm2.Marshal(rsp.OutPublic), private: tpm2.Marshal(rsp.OutPrivate)}, nil
}

// load loads b under the SRK. The caller holds s.mu and flushes the handle.
func (s *Store) load(b blob) (tpm2.AuthHandle, error) {
	parent, err := s.srkHandle()
	if err != nil {
		return tpm2.AuthHandle{}, err
	}
	pub, priv, err := b.areas()
	if err != nil {
		return tpm2.AuthHandle{}, err
	}
	rsp, err := tpm2.Load{ParentHandle: parentAuth(parent), InPrivate: *priv, InPublic: *pub}.Execute(s.tpm)
	if err != nil {
		return tpm2.AuthHandle{}, fmt.Errorf("tpm: load a blob (made by another TPM?): %w", err)
	}
	return tpm2.AuthHandle{Handle: rsp.ObjectHandle, Name: rsp.Name, Auth: tpm2.PasswordAuth(nil)}, nil
}

func (s *Store) flush(h tpm2.TPMHandle) {
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(s.tpm)
}

// unsealBlob loads b, unseals its data and flushes it. The caller holds s.mu and
// clears the result.
func (s *Store) unsealBlob(b blob) ([]byte, error) {
	h, err := s.load(b)
	if err != nil {
		return nil, err
	}
	defer s.flush(h.Handle)
	h.Auth = s.secretSession(encryptOut)
	rsp, err := tpm2.Unseal{ItemHandle: h}.Execute(s.tpm)
	if err != nil {
		return nil, fmt.Errorf("tpm: unseal: %w", err)
	}
	return rsp.OutData.Buffer, nil
}

func (s *Store) readBlob(name string) (blob, error) {
	data, err := privacy.ReadKeyFile(filepath.Join(s.dir, name), maxBlob)
	if err != nil {
		return blob{}, err
	}
	b, err := decodeBlob(data)
	if err != nil {
		return blob{}, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// unsealKey unseals a 32-byte key blob into locked memory.
func (s *Store) unsealKey(name string) (*lockedKey, error) {
	b, err := s.readBlob(name)
	if err != nil {
		return nil, fmt.Errorf("tpm: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := s.unsealBlob(b)
	if err != nil {
		return nil, fmt.Errorf("tpm: %s: %w", name, err)
	}
	defer clear(data)
	if len(data) != 32 {
		return nil, fmt.Errorf("tpm: %s holds %d bytes, want 32: %w", name, len(data), privacy.ErrCorrupt)
	}
	k, err := newLockedKey()
	if err != nil {
		return nil, fmt.Errorf("tpm: locked memory: %w", err)
	}
	copy(k.key()[:], data)
	return k, nil
}
