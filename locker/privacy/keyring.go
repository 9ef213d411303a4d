package privacy

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// KeyringFile is the name of the epoch key file in the state directory.
const KeyringFile = "epochs.key"

// DefaultEpochLength is the default length of a crypto-shredding epoch.
const DefaultEpochLength = 7 * 24 * time.Hour

// MaxEpochs is the most keys a keyring holds; retention should destroy old
// epochs long before. It bounds the key file at about 144 KiB.
const MaxEpochs = 4096

// Keyring file layout (see docs/adr/0002-crypto-shredding.md), integers
// big-endian:
//
//	"LKEP" | version 0x01 | count uint32 | count × (epoch uint32 | key [32]) | SHA-256(all preceding bytes)
//
// Entries are sorted by strictly ascending epoch.
const (
	keyringMagic   = "LKEP"
	keyringVersion = 1
	keyringHeader  = len(keyringMagic) + 1 + 4
	keyringEntry   = 4 + 32
	keyringSum     = sha256.Size
	keyringMaxLen  = keyringHeader + MaxEpochs*keyringEntry + keyringSum
)

// Sentinel errors of the Keyring; compare with errors.Is.
var (
	// ErrKeyringFull is returned by Keyring.Key when the keyring already
	// holds MaxEpochs keys.
	ErrKeyringFull = errors.New("privacy: keyring is full")
	// ErrKeyringClosed is returned by Keyring.Key and Keyring.Destroy after
	// Close.
	ErrKeyringClosed = errors.New("privacy: keyring is closed")
)

// Keyring holds the random per-epoch keys that seal what the locker stores.
// Destroying an epoch's key makes everything sealed under it unreadable and
// unlinkable (crypto-shredding). It is safe for concurrent use.
type Keyring struct {
	dir  string
	wrap KeyWrap // nil: the file holds the keys in plain (keys: file)
	mu   sync.RWMutex
	keys map[uint32]*[32]byte
	// unsaved says a Destroy's rewrite failed: the key is gone from memory, maybe
	// not yet from the file, and the next Destroy (even of an absent epoch) or
	// Key writes the file again.
	unsaved bool
}

// OpenKeyring loads <stateDir>/epochs.key (0600; created empty if missing).
// A corrupt file is an error wrapping ErrCorrupt, never silently reset; a
// file or directory that group or others can access is an error wrapping
// ErrInsecurePermissions. Only one process may own stateDir.
func OpenKeyring(stateDir string) (*Keyring, error) { return OpenKeyringWrapped(stateDir, nil) }

// OpenKeyringWrapped is OpenKeyring for a keyring file encrypted under a key that w
// holds (a TPM: docs/adr/0047-device-keys-in-a-tpm.md), so that a copy of the card
// alone yields no epoch key. With w nil it is OpenKeyring. A plain keyring file
// found with w set (a station moved from keys: file) is read once and rewritten
// wrapped, its plain copy overwritten; a wrapped file without w is an error
// wrapping ErrKeyringWrapped.
func OpenKeyringWrapped(stateDir string, w KeyWrap) (*Keyring, error) {
	if err := ensureStateDir(stateDir); err != nil {
		return nil, err
	}
	removeStaleTemps(stateDir, KeyringFile)
	r := &Keyring{dir: stateDir, wrap: w, keys: map[uint32]*[32]byte{}}
	data, err := readKeyFile(filepath.Join(stateDir, KeyringFile), int64(keyringMaxLen+wrappedMaxOverhead))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := r.persist(r.keys); err != nil {
			return nil, err
		}
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("privacy: open keyring: %w", err)
	}
	defer clear(data)
	wrapped := len(data) >= len(keyringWrappedMagic) && string(data[:len(keyringWrappedMagic)]) == keyringWrappedMagic
	switch {
	case wrapped && w == nil:
		return nil, fmt.Errorf("privacy: open keyring: %w", ErrKeyringWrapped)
	case wrapped:
		plain, err := unwrapKeyring(w, data)
		if err != nil {
			return nil, err
		}
		defer clear(plain)
		if r.keys, err = decodeKeyring(plain); err != nil {
			return nil, err
		}
		return r, nil
	}
	if r.keys, err = decodeKeyring(data); err != nil {
		return nil, err
	}
	if w != nil { // moved from keys: file: from now on the file is wrapped
		if err := r.persist(r.keys); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Wrapped keyring file layout: "LKEW" | version 0x01 | KeyWrap.Wrap(plain keyring
// file, additional data keyringWrapAD).
const (
	keyringWrappedMagic   = "LKEW"
	keyringWrappedVersion = 1
	keyringWrapAD         = "lockerd keyring v1"
	// wrappedMaxOverhead bounds what a KeyWrap adds (a nonce and a tag).
	wrappedMaxOverhead = 256
)

// ErrKeyringWrapped is returned by OpenKeyring for a keyring file encrypted under a
// key held by a TPM: it opens only with keys: tpm on the device that wrote it.
var ErrKeyringWrapped = errors.New("privacy: the keyring file is wrapped by a key store (keys: tpm) and cannot be read without it")

func unwrapKeyring(w KeyWrap, data []byte) ([]byte, error) {
	if len(data) < len(keyringWrappedMagic)+1 || data[len(keyringWrappedMagic)] != keyringWrappedVersion {
		return nil, fmt.Errorf("privacy: wrapped keyring file has an unknown version: %w", ErrCorrupt)
	}
	plain, err := w.Unwrap(data[len(keyringWrappedMagic)+1:], []byte(keyringWrapAD))
	if err != nil {
		return nil, fmt.Errorf("privacy: unwrap keyring: %w", err)
	}
	return plain, nil
}

// Key returns the key of epoch. If there is none it creates a random one and
// persists it durably before returning it.
func (r *Keyring) Key(epoch uint32) ([32]byte, error) {
	if k, ok := r.Lookup(epoch); ok {
		return k, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		// Persisting now would write a file without the other keys.
		return [32]byte{}, ErrKeyringClosed
	}
	if k, ok := r.keys[epoch]; ok {
		return *k, nil
	}
	if len(r.keys) >= MaxEpochs {
		return [32]byte{}, ErrKeyringFull
	}
	k := new([32]byte)
	if _, err := rand.Read(k[:]); err != nil {
		return [32]byte{}, fmt.Errorf("privacy: generate epoch key: %w", err)
	}
	next := make(map[uint32]*[32]byte, len(r.keys)+1)
	for e, v := range r.keys {
		next[e] = v
	}
	next[epoch] = k
	if err := r.persist(next); err != nil {
		clear(k[:])
		return [32]byte{}, err
	}
	r.keys, r.unsaved = next, false
	return *k, nil
}

// Lookup returns the key of epoch if it exists; it never creates one.
func (r *Keyring) Lookup(epoch uint32) ([32]byte, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.keys[epoch]
	if !ok {
		return [32]byte{}, false
	}
	return *k, true
}

// Epochs returns the epochs that have a key, sorted ascending.
func (r *Keyring) Epochs() []uint32 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]uint32, 0, len(r.keys))
	for e := range r.keys {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

// Destroy durably removes the key of epoch: the key file is rewritten
// atomically without it, the superseded file is overwritten with zeros, and
// the in-memory copy is zeroed. Copies already returned by Key or Lookup are
// the caller's to drop. Destroying an absent epoch is not an error.
func (r *Keyring) Destroy(epoch uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		return ErrKeyringClosed
	}
	k, ok := r.keys[epoch]
	if !ok {
		if r.unsaved { // an earlier Destroy's rewrite failed: finish it
			if err := r.persist(r.keys); err != nil {
				return err
			}
			r.unsaved = false
		}
		return nil
	}
	next := make(map[uint32]*[32]byte, len(r.keys))
	for e, v := range r.keys {
		if e != epoch {
			next[e] = v
		}
	}
	// Gone from memory whatever the rewrite does: a failed rewrite (say, its
	// directory sync after the rename) must not let a later rewrite of the
	// keyring put the key back. Nothing uses it any more (the caller's rule).
	r.keys = next
	clear(k[:])
	if err := r.persist(next); err != nil {
		r.unsaved = true
		return err
	}
	r.unsaved = false
	return nil
}

// Close zeroes the in-memory keys. Afterwards Lookup finds nothing and Key
// and Destroy return ErrKeyringClosed; the key file is left as it is.
func (r *Keyring) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.keys {
		clear(k[:])
	}
	r.keys = nil
	return nil
}

// String reveals the epochs, not the keys.
func (r *Keyring) String() string { return fmt.Sprintf("privacy.Keyring{epochs: %v}", r.Epochs()) }

// EpochOf returns the epoch that contains t for epochs of the given length:
// Unix seconds divided by the length in seconds. A length under one second
// means DefaultEpochLength; a time before 1970 is epoch 0.
func EpochOf(t time.Time, length time.Duration) uint32 {
	secs := int64(length / time.Second)
	if secs < 1 {
		secs = int64(DefaultEpochLength / time.Second)
	}
	u := t.Unix()
	if u < 0 {
		return 0
	}
	return uint32(u / secs)
}

// EpochStart returns the first instant of epoch for epochs of the given
// length, with the same treatment of length as EpochOf.
func EpochStart(epoch uint32, length time.Duration) time.Time {
	secs := int64(length / time.Second)
	if secs < 1 {
		secs = int64(DefaultEpochLength / time.Second)
	}
	return time.Unix(int64(epoch)*secs, 0).UTC()
}

// persist writes keys to the key file durably. The caller holds r.mu or owns
// r exclusively.
func (r *Keyring) persist(keys map[uint32]*[32]byte) error {
	data := encodeKeyring(keys)
	defer clear(data)
	if r.wrap != nil {
		wrapped, err := r.wrap.Wrap(data, []byte(keyringWrapAD))
		if err != nil {
			return fmt.Errorf("privacy: wrap keyring: %w", err)
		}
		data = append(append([]byte(keyringWrappedMagic), keyringWrappedVersion), wrapped...)
	}
	if err := writeKeyFile(r.dir, KeyringFile, data); err != nil {
		return fmt.Errorf("privacy: store keyring: %w", err)
	}
	if c, ok := r.wrap.(KeyWrapCommitter); ok {
		if err := c.Committed(); err != nil {
			return fmt.Errorf("privacy: keyring written, its old wrapping key not dropped: %w", err)
		}
	}
	return nil
}

func encodeKeyring(keys map[uint32]*[32]byte) []byte {
	epochs := make([]uint32, 0, len(keys))
	for e := range keys {
		epochs = append(epochs, e)
	}
	slices.Sort(epochs)
	b := make([]byte, 0, keyringHeader+len(keys)*keyringEntry+keyringSum)
	b = append(b, keyringMagic...)
	b = append(b, keyringVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(epochs)))
	for _, e := range epochs {
		b = binary.BigEndian.AppendUint32(b, e)
		b = append(b, keys[e][:]...)
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func decodeKeyring(data []byte) (map[uint32]*[32]byte, error) {
	if len(data) < keyringHeader+keyringSum {
		return nil, fmt.Errorf("privacy: keyring file has %d bytes, too short: %w", len(data), ErrCorrupt)
	}
	if string(data[:len(keyringMagic)]) != keyringMagic {
		return nil, fmt.Errorf("privacy: keyring file has a bad magic: %w", ErrCorrupt)
	}
	if v := data[len(keyringMagic)]; v != keyringVersion {
		return nil, fmt.Errorf("privacy: keyring file has version %d, want %d: %w", v, keyringVersion, ErrCorrupt)
	}
	body, check := data[:len(data)-keyringSum], data[len(data)-keyringSum:]
	sum := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(sum[:], check) != 1 {
		return nil, fmt.Errorf("privacy: keyring file fails its integrity check: %w", ErrCorrupt)
	}
	count := binary.BigEndian.Uint32(data[len(keyringMagic)+1:])
	if count > MaxEpochs || len(body) != keyringHeader+int(count)*keyringEntry {
		return nil, fmt.Errorf("privacy: keyring file has %d bytes for %d keys: %w", len(data), count, ErrCorrupt)
	}
	keys := make(map[uint32]*[32]byte, count)
	var prev uint32
	for i := range int(count) {
		entry := body[keyringHeader+i*keyringEntry:]
		e := binary.BigEndian.Uint32(entry)
		if i > 0 && e <= prev {
			return nil, fmt.Errorf("privacy: keyring file epochs are not ascending: %w", ErrCorrupt)
		}
		k := new([32]byte)
		copy(k[:], entry[4:keyringEntry])
		keys[e] = k
		prev = e
	}
	return keys, nil
}
