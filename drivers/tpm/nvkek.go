package tpm

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/google/go-tpm/tpm2"

	"github.com/lockerd/lockerd/locker/privacy"
)

// The key-encryption key of epochs.key lives in a TPM NV index, not on the card, and
// is replaced at every rewrite of the keyring (so at every Destroy): a copy of the
// card made before a Destroy, brought to the stolen device later, meets a KEK that no
// longer exists (docs/adr/0047-device-keys-in-a-tpm.md).
//
// NV data: count (1 byte) | count × 32-byte keys. Key 0 is the current KEK; the
// others are keys that may still wrap the file on the card: a Wrap writes
// [new, old...] before the file is renamed, Committed writes [new] once the rename is
// durable. A power cut in between leaves both, and Unwrap tries each. At most
// maxKEKs are kept: a keyring that fails to be written maxKEKs-1 times in a row
// refuses to wrap again until a write succeeds.
const (
	maxKEKs  = 4
	nvSize   = 1 + maxKEKs*32
	nvFile   = "keyring.nv"
	nvMagic  = "LKTN"
	nvBase   = 0x01804C4B // in the owner's NV range (0x01800000-0x01BFFFFF)
	nvTries  = 16
	nvFileSz = 4 + 1 + 4 + blobCheck
)

var ownerAuth = tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)}

func encodeNVFile(index tpm2.TPMHandle) []byte {
	b := append([]byte(nvMagic), 1)
	b = binary.BigEndian.AppendUint32(b, uint32(index))
	sum := sha256.Sum256(b)
	return append(b, sum[:blobCheck]...)
}

func decodeNVFile(data []byte) (tpm2.TPMHandle, error) {
	bad := fmt.Errorf("tpm: %s is damaged: %w", nvFile, privacy.ErrCorrupt)
	if len(data) != nvFileSz || string(data[:4]) != nvMagic || data[4] != 1 {
		return 0, bad
	}
	sum := sha256.Sum256(data[:9])
	if subtle.ConstantTimeCompare(sum[:blobCheck], data[9:]) != 1 {
		return 0, bad
	}
	return tpm2.TPMHandle(binary.BigEndian.Uint32(data[5:9])), nil
}

// defineKEK defines a new NV index for the KEK (undefining the one a previous
// enrolment left), writes a first key to it and records the index on the card. The
// caller holds s.mu.
func (s *Store) defineKEK() error {
	if data, err := privacy.ReadKeyFile(filepath.Join(s.dir, nvFile), nvFileSz); err == nil {
		if old, err := decodeNVFile(data); err == nil {
			if pub, err := (tpm2.NVReadPublic{NVIndex: old}).Execute(s.tpm); err == nil {
				_, _ = tpm2.NVUndefineSpace{AuthHandle: ownerAuth, NVIndex: tpm2.NamedHandle{Handle: old, Name: pub.NVName}}.Execute(s.tpm)
			}
		}
	}
	var index tpm2.TPMHandle
	for i := range nvTries {
		h := tpm2.TPMHandle(nvBase + i)
		_, err := tpm2.NVDefineSpace{AuthHandle: ownerAuth, PublicInfo: tpm2.New2B(tpm2.TPMSNVPublic{
			NVIndex: h, NameAlg: tpm2.TPMAlgSHA256,
			Attributes: tpm2.TPMANV{OwnerWrite: true, OwnerRead: true, NT: tpm2.TPMNTOrdinary, NoDA: true},
			DataSize:   nvSize,
		})}.Execute(s.tpm)
		if errors.Is(err, tpm2.TPMRCNVDefined) {
			continue
		}
		if err != nil {
			return fmt.Errorf("tpm: define the keyring's NV index: %w", err)
		}
		index = h
		break
	}
	if index == 0 {
		return fmt.Errorf("tpm: NV indexes %#x-%#x are all taken", nvBase, nvBase+nvTries-1)
	}
	var k [32]byte
	defer clear(k[:])
	_, _ = rand.Read(k[:])
	if err := s.writeKEKs(index, [][32]byte{k}); err != nil {
		return err
	}
	return privacy.WriteKeyFile(s.dir, nvFile, encodeNVFile(index))
}

// writeKEKs writes keys to the NV index. The caller holds s.mu.
func (s *Store) writeKEKs(index tpm2.TPMHandle, keys [][32]byte) error {
	pub, err := tpm2.NVReadPublic{NVIndex: index}.Execute(s.tpm)
	if err != nil {
		return fmt.Errorf("tpm: the keyring's NV index: %w", err)
	}
	data := make([]byte, nvSize)
	defer clear(data)
	data[0] = byte(len(keys))
	for i, k := range keys {
		copy(data[1+32*i:], k[:])
	}
	if _, err := s.srkHandle(); err != nil {
		return err
	}
	owner := tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: s.secretSession(encryptIn)}
	_, err = tpm2.NVWrite{AuthHandle: owner, NVIndex: tpm2.NamedHandle{Handle: index, Name: pub.NVName},
		Data: tpm2.TPM2BMaxNVBuffer{Buffer: data}}.Execute(s.tpm)
	if err != nil {
		return fmt.Errorf("tpm: write the keyring's NV index: %w", err)
	}
	return nil
}

// readKEKs reads the NV index named on the card into locked memory.
func (s *Store) readKEKs() error {
	data, err := privacy.ReadKeyFile(filepath.Join(s.dir, nvFile), nvFileSz)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: no keyring NV index (enrolled by an older version)", ErrEnrolment)
	}
	if err != nil {
		return fmt.Errorf("tpm: %w", err)
	}
	index, err := decodeNVFile(data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pub, err := tpm2.NVReadPublic{NVIndex: index}.Execute(s.tpm)
	if err != nil {
		return fmt.Errorf("tpm: the keyring's NV index %#x (another TPM, or cleared?): %w", uint32(index), err)
	}
	if _, err := s.srkHandle(); err != nil {
		return err
	}
	owner := tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: s.secretSession(encryptOut)}
	rsp, err := tpm2.NVRead{AuthHandle: owner, NVIndex: tpm2.NamedHandle{Handle: index, Name: pub.NVName}, Size: nvSize}.Execute(s.tpm)
	if err != nil {
		return fmt.Errorf("tpm: read the keyring's NV index: %w", err)
	}
	nv := rsp.Data.Buffer
	defer clear(nv)
	if len(nv) != nvSize || nv[0] < 1 || nv[0] > maxKEKs {
		return fmt.Errorf("tpm: the keyring's NV index is damaged: %w", privacy.ErrCorrupt)
	}
	mem, err := newLockedKey()
	if err != nil {
		return fmt.Errorf("tpm: locked memory: %w", err)
	}
	for i := range int(nv[0]) {
		copy(mem.slot(i)[:], nv[1+32*i:])
	}
	s.kek, s.nKEK, s.nvIndex = mem, int(nv[0]), index
	return nil
}

// keks returns copies of the KEKs in memory. The caller holds s.mu and clears them.
func (s *Store) keks() [][32]byte {
	out := make([][32]byte, s.nKEK)
	for i := range out {
		out[i] = *s.kek.slot(i)
	}
	return out
}

func (s *Store) setKEKs(keys [][32]byte) {
	clear(s.kek.mem)
	for i, k := range keys {
		*s.kek.slot(i) = k
	}
	s.nKEK = len(keys)
}

func clearKeys(keys [][32]byte) {
	for i := range keys {
		clear(keys[i][:])
	}
}

// Wrap encrypts plain under a new KEK, which it first writes to the NV index ahead of
// the keys that may wrap the file on the card now: the privacy.KeyWrap of
// epochs.key, replaced at every write of the keyring. Committed drops the old keys.
func (s *Store) Wrap(plain, additional []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.nKEK >= maxKEKs {
		return nil, fmt.Errorf("tpm: the keyring failed to be written %d times in a row; not replacing its key again", maxKEKs-1)
	}
	var k [32]byte
	defer clear(k[:])
	_, _ = rand.Read(k[:])
	keys := append([][32]byte{k}, s.keks()...)
	defer clearKeys(keys)
	if err := s.writeKEKs(s.nvIndex, keys); err != nil {
		return nil, err
	}
	s.setKEKs(keys)
	return privacy.SealBytes(k, plain, additional), nil
}

// Committed is told that the file Wrap's result went to is durable: the NV index
// keeps the current KEK only, and every older one is gone from the TPM.
func (s *Store) Committed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.nKEK <= 1 {
		return nil
	}
	keys := [][32]byte{*s.kek.slot(0)}
	defer clearKeys(keys)
	if err := s.writeKEKs(s.nvIndex, keys); err != nil {
		return err
	}
	s.setKEKs(keys)
	return nil
}

// Unwrap reverses Wrap with whichever KEK the NV index still holds.
func (s *Store) Unwrap(wrapped, additional []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var err error
	for i := range s.nKEK {
		var plain []byte
		if plain, err = privacy.OpenBytes(*s.kek.slot(i), wrapped, additional); err == nil {
			return plain, nil
		}
	}
	return nil, err
}
