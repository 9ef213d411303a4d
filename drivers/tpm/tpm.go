// Package tpm is the `keys: tpm` backend of privacy.KeyStore: the locker's device
// secrets held by a TPM 2.0 (docs/adr/0047-device-keys-in-a-tpm.md) through
// github.com/google/go-tpm, on /dev/tpmrm0 by default.
//
//   - The keys of the digests whose inputs can be guessed (one per
//     privacy.MACPurposes entry: tracking number, pickup code, courier badge and
//     PIN) are HMAC keys imported into the TPM at enrolment (fixedTPM, fixedParent,
//     sign, noDA). Every digest is a TPM2_HMAC: whoever holds the card and the TPM
//     can only query it, at its speed; the card alone yields nothing.
//   - The X25519 identity is generated at enrolment, used once to derive those keys
//     (privacy.DeriveKeys, unchanged, so the cloud derives the same ones), and
//     destroyed: only its public key is kept. It is never written.
//   - The audit key, the event key (the MAC on every event and reply, ADR 0050) and
//     the broker secrets are sealed by the TPM and unsealed at start into locked
//     memory. The key-encryption key of the epoch keyring is in a TPM NV
//     index, replaced at every write of the keyring (nvkek.go).
//
// The storage root key (the TCG's ECC P-256 template in the owner hierarchy) is
// derived again at every open from the TPM's owner seed and never stored: another TPM
// derives another one and loads none of the blobs. The blobs live in <state>/tpm/.
package tpm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"

	"github.com/lockerd/lockerd/locker/privacy"
)

// DefaultDevice is the kernel's resource-managed TPM device.
const DefaultDevice = "/dev/tpmrm0"

// Dir is the directory of the TPM's blobs inside the state directory.
const Dir = "tpm"

// File names inside Dir.
const (
	enrolmentFile = "enrolment"
	auditFile     = "audit.blob"
	eventFile     = "event.blob"
)

func macFile(p privacy.Purpose) string { return "mac-" + string(p) + ".blob" }
func secretFile(name string) string    { return name + ".sealed" }

// maxMACInput is the largest message one TPM2_HMAC takes (TPM2B_MAX_BUFFER on the
// SLB9670 and swtpm: 1,024 bytes). The digests' inputs are far smaller.
const maxMACInput = 1024

// MaxSecret bounds a sealed secret (a broker password, a PEM client key).
const MaxSecret = 16 << 10

// Errors of Open; compare with errors.Is.
var (
	// ErrEnrolment means the station was enrolled with another fleet key or locker
	// id, or before a purpose this version needs existed: the identity is gone, so
	// nothing can derive the missing keys. Re-enrol (docs/privacy.md §8).
	ErrEnrolment = errors.New("tpm: the TPM's keys do not match this configuration; re-enrol the station")
	// ErrNotEnrolled is returned by Open with NoEnrol for a station not enrolled yet.
	ErrNotEnrolled = errors.New("tpm: the station is not enrolled yet (lockerd enrols it at its first start)")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("tpm: key store is closed")
)

// Options configure Open.
type Options struct {
	// StateDir is lockerd's state directory; the blobs go to StateDir/tpm.
	StateDir string
	// Device is the TPM device (default DefaultDevice); ignored when TPM is set.
	Device string
	// TPM is an open transport to use instead of Device (tests: internal/tpmtest).
	// The Store does not close it.
	TPM transport.TPM
	// FleetPublic and LockerID are the config's; at enrolment they derive the keys.
	FleetPublic [32]byte
	LockerID    string
	Log         *slog.Logger
	// NoEnrol makes Open fail with ErrNotEnrolled rather than enrol (lockerd check,
	// lockerd audit).
	NoEnrol bool
}

// Store is a privacy.KeyStore over a TPM. It is safe for concurrent use: TPM
// commands are serialised, as the TPM serialises them anyway.
type Store struct {
	dir    string
	device string
	log    *slog.Logger

	mu     sync.Mutex
	tpm    transport.TPM
	closer io.Closer // the device Open opened, nil for Options.TPM
	srk    *tpm2.NamedHandle
	srkPub tpm2.TPMTPublic
	macs   map[privacy.Purpose]blob
	// The one MAC key kept loaded (load on demand, the last one used stays): the
	// TPM holds three transient objects, the SRK takes one and a load needs one.
	loaded    privacy.Purpose
	loadedKey *tpm2.AuthHandle

	public  [32]byte
	audit   *lockedKey
	event   *lockedKey // the key of the MAC on events and replies (ADR 0050)
	kek     *lockedKey // the keyring's KEKs (nvkek.go): nKEK slots
	nKEK    int
	nvIndex tpm2.TPMHandle
	closed  bool
}

// Open opens the TPM and the station's keys in it, enrolling the station on first
// use (no StateDir/tpm/enrolment yet): see the package comment. It refuses (an error
// wrapping ErrEnrolment) a state enrolled under another fleet key or locker id.
func Open(opt Options) (_ *Store, err error) {
	if opt.LockerID == "" {
		return nil, privacy.ErrLockerID
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	s := &Store{dir: filepath.Join(opt.StateDir, Dir), device: opt.Device, log: opt.Log, tpm: opt.TPM}
	if s.tpm == nil {
		if s.device == "" {
			s.device = DefaultDevice
		}
		dev, err := linuxtpm.Open(s.device)
		if err != nil {
			return nil, fmt.Errorf("tpm: open %s: %w", s.device, err)
		}
		s.tpm, s.closer = dev, dev
	} else {
		s.device = "transport"
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := privacy.EnsureKeyDir(opt.StateDir); err != nil {
		return nil, err
	}
	if err := privacy.EnsureKeyDir(s.dir); err != nil {
		return nil, err
	}
	data, err := privacy.ReadKeyFile(filepath.Join(s.dir, enrolmentFile), 1024)
	if errors.Is(err, fs.ErrNotExist) && opt.NoEnrol {
		return nil, ErrNotEnrolled
	}
	if errors.Is(err, fs.ErrNotExist) {
		if err := s.enrol(opt.FleetPublic, opt.LockerID); err != nil {
			return nil, err
		}
		data, err = privacy.ReadKeyFile(filepath.Join(s.dir, enrolmentFile), 1024)
	}
	if err != nil {
		return nil, fmt.Errorf("tpm: %w", err)
	}
	e, err := decodeEnrolment(data)
	if err != nil {
		return nil, err
	}
	if e.fleetPublic != opt.FleetPublic || e.lockerID != opt.LockerID {
		return nil, fmt.Errorf("%w: enrolled as locker %q with another fleet key or id", ErrEnrolment, e.lockerID)
	}
	s.public = e.devicePublic
	s.macs = make(map[privacy.Purpose]blob, len(privacy.MACPurposes))
	for _, p := range privacy.MACPurposes {
		b, err := s.readBlob(macFile(p))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: no key for purpose %q (enrolled by an older version)", ErrEnrolment, string(p))
		}
		if err != nil {
			return nil, err
		}
		s.macs[p] = b
	}
	if err := s.checkKeys(); err != nil {
		return nil, err
	}
	if s.audit, err = s.unsealKey(auditFile); err != nil {
		return nil, err
	}
	if _, err := s.readBlob(eventFile); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no event key (enrolled by an older version)", ErrEnrolment)
	}
	if s.event, err = s.unsealKey(eventFile); err != nil {
		return nil, err
	}
	if err := s.readKEKs(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkKeys loads every purpose key once, so that a damaged blob or another TPM is
// found at start rather than at the first code entry. The last one stays loaded.
func (s *Store) checkKeys() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range privacy.MACPurposes {
		if _, err := s.mac(p, s.macs[p], nil); err != nil {
			return fmt.Errorf("tpm: the %s key: %w", string(p), err)
		}
	}
	return nil
}

// enrol generates the identity, imports the purpose keys, seals the audit and event keys,
// defines the keyring's NV index with a first key-encryption key, and writes the
// enrolment file last. The identity's private key and the derived keys are cleared
// before it returns.
func (s *Store) enrol(fleet [32]byte, lockerID string) error {
	id, err := privacy.GenerateIdentity()
	if err != nil {
		return err
	}
	defer id.Destroy()
	keys, err := privacy.DeriveKeys(id, fleet, lockerID)
	if err != nil {
		return err
	}
	defer keys.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range privacy.MACPurposes {
		key, ok := keys.PurposeKey(p)
		if !ok {
			return fmt.Errorf("tpm: enrol: no key for purpose %q", string(p))
		}
		b, err := s.create(hmacTemplate, key[:])
		clear(key[:])
		if err != nil {
			return fmt.Errorf("tpm: enrol: import %s key: %w", string(p), err)
		}
		if err := privacy.WriteKeyFile(s.dir, macFile(p), b.encode()); err != nil {
			return err
		}
	}
	for _, sealed := range []struct {
		what, file string
		key        []byte
	}{{"audit", auditFile, keys.AuditKey()}, {"event", eventFile, keys.EventKey()}} {
		b, err := s.create(sealedTemplate, sealed.key)
		clear(sealed.key)
		if err != nil {
			return fmt.Errorf("tpm: enrol: seal the %s key: %w", sealed.what, err)
		}
		if err := privacy.WriteKeyFile(s.dir, sealed.file, b.encode()); err != nil {
			return err
		}
	}
	if err := s.defineKEK(); err != nil {
		return err
	}
	e := enrolment{devicePublic: id.Public(), fleetPublic: fleet, lockerID: lockerID}
	if err := privacy.WriteKeyFile(s.dir, enrolmentFile, e.encode()); err != nil {
		return err
	}
	s.log.Info("enrolled the station's keys in the TPM; the identity's private key is destroyed, report the public key to the fleet",
		"identity", id.PublicHex()[:16], "purposes", len(privacy.MACPurposes))
	return nil
}

// MAC returns HMAC-SHA256 of msg under the purpose's key, computed by the TPM. A
// TPM that does not answer is an error (the station's fault, never a wrong code);
// after an error the store loads its keys again, once.
func (s *Store) MAC(p privacy.Purpose, msg []byte) (privacy.Digest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return privacy.Digest{}, ErrClosed
	}
	b, ok := s.macs[p]
	if !ok {
		return privacy.Digest{}, fmt.Errorf("tpm: no key for purpose %q", string(p))
	}
	if len(msg) > maxMACInput {
		return privacy.Digest{}, fmt.Errorf("tpm: a %d-byte message is longer than one TPM2_HMAC takes", len(msg))
	}
	d, err := s.mac(p, b, msg)
	if err != nil {
		// A TPM reset (power glitch, resource manager restart) drops loaded
		// objects: start again from the SRK, once.
		s.unload()
		if d, err = s.mac(p, b, msg); err != nil {
			s.unload()
			return privacy.Digest{}, fmt.Errorf("tpm: HMAC (%s): %w", string(p), err)
		}
	}
	return d, nil
}

func (s *Store) mac(p privacy.Purpose, b blob, msg []byte) (privacy.Digest, error) {
	if s.loadedKey == nil || s.loaded != p {
		if s.loadedKey != nil {
			s.flush(s.loadedKey.Handle)
			s.loadedKey = nil
		}
		h, err := s.load(b)
		if err != nil {
			return privacy.Digest{}, err
		}
		s.loaded, s.loadedKey = p, &h
	}
	rsp, err := tpm2.Hmac{Handle: *s.loadedKey, Buffer: tpm2.TPM2BMaxBuffer{Buffer: msg}, HashAlg: tpm2.TPMAlgSHA256}.Execute(s.tpm)
	if err != nil {
		return privacy.Digest{}, err
	}
	var d privacy.Digest
	if len(rsp.OutHMAC.Buffer) != len(d) {
		return d, fmt.Errorf("tpm: HMAC of %d bytes", len(rsp.OutHMAC.Buffer))
	}
	copy(d[:], rsp.OutHMAC.Buffer)
	return d, nil
}

// unload flushes the loaded key and the SRK (best effort). The caller holds s.mu.
func (s *Store) unload() {
	if s.loadedKey != nil {
		s.flush(s.loadedKey.Handle)
		s.loadedKey = nil
	}
	if s.srk != nil {
		s.flush(s.srk.Handle)
		s.srk = nil
	}
}

// AuditKey returns a copy of the audit key (unsealed at Open).
func (s *Store) AuditKey() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.audit == nil {
		return nil
	}
	return append([]byte(nil), s.audit.key()[:]...)
}

// EventKey returns a copy of the key of the MAC on events and replies (unsealed at
// Open).
func (s *Store) EventKey() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.event == nil {
		return nil
	}
	return append([]byte(nil), s.event.key()[:]...)
}

// Exposure says what a copy of the card yields with a TPM (Store.Exposure).
const Exposure = "keys: tpm — the digest keys are in the TPM and every other device secret is sealed by it: a copy of the card alone yields no pickup code, tracking number, courier PIN or broker login; the whole device (board with its TPM, as root) can have guesses tried only at the TPM's HMAC rate"

// Exposure says what a copy of the card yields with a TPM.
func (s *Store) Exposure() string { return Exposure }

// Public is the X25519 public key of the identity the station enrolled with, for
// the fleet (its private key no longer exists).
func (s *Store) Public() [32]byte { return s.public }

// Close flushes the TPM's objects, clears the keys in memory and closes the
// device Open opened. The store must not be used afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.unload()
	s.audit.free()
	s.event.free()
	s.kek.free()
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

// String names the device only.
func (s *Store) String() string { return "tpm.Store{" + s.device + "}" }

// GoString keeps %#v from printing the keys.
func (s *Store) GoString() string { return s.String() }

// LogValue keeps slog from printing the keys.
func (s *Store) LogValue() slog.Value { return slog.StringValue(s.String()) }

var (
	_ privacy.KeyStore = (*Store)(nil)
	_ privacy.KeyWrap  = (*Store)(nil)
)
