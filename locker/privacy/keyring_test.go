package privacy

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func openKeyring(t *testing.T, dir string) *Keyring {
	t.Helper()
	r, err := OpenKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func mustKey(t *testing.T, r *Keyring, epoch uint32) [32]byte {
	t.Helper()
	k, err := r.Key(epoch)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyringCreatesEmptyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	r := openKeyring(t, dir)
	assertMode(t, dir, 0o700|os.ModeDir)
	assertMode(t, filepath.Join(dir, KeyringFile), 0o600)
	if got := r.Epochs(); len(got) != 0 {
		t.Fatalf("new keyring has epochs %v", got)
	}
	if _, ok := r.Lookup(1); ok {
		t.Fatal("Lookup found a key in an empty keyring")
	}
	if got := openKeyring(t, dir).Epochs(); len(got) != 0 {
		t.Fatalf("reopened empty keyring has epochs %v", got)
	}
}

func TestKeyringRoundTrip(t *testing.T) {
	dir := newStateDir(t)
	r := openKeyring(t, dir)
	k7 := mustKey(t, r, 7)
	k3 := mustKey(t, r, 3)
	if mustKey(t, r, 7) != k7 {
		t.Fatal("Key returned a different key for an existing epoch")
	}
	if k3 == k7 || k3 == ([32]byte{}) {
		t.Fatal("epoch keys are not random")
	}
	if _, ok := r.Lookup(5); ok {
		t.Fatal("Lookup created or found epoch 5")
	}
	if got := r.Epochs(); !slices.Equal(got, []uint32{3, 7}) {
		t.Fatalf("Epochs = %v, want [3 7]", got)
	}

	re := openKeyring(t, dir)
	if got := re.Epochs(); !slices.Equal(got, []uint32{3, 7}) {
		t.Fatalf("reopened Epochs = %v, want [3 7]", got)
	}
	if k, ok := re.Lookup(7); !ok || k != k7 {
		t.Fatal("reopened keyring lost the key of epoch 7")
	}
}

func TestKeyringDestroy(t *testing.T) {
	dir := newStateDir(t)
	r := openKeyring(t, dir)
	k1 := mustKey(t, r, 1)
	k2 := mustKey(t, r, 2)
	mem := r.keys[1]

	// A second name for the current file's inode: after Destroy it must hold
	// zeros, not the destroyed key.
	oldCopy := filepath.Join(t.TempDir(), "old")
	if err := os.Link(filepath.Join(dir, KeyringFile), oldCopy); err != nil {
		t.Fatal(err)
	}
	if err := r.Destroy(1); err != nil {
		t.Fatal(err)
	}
	if *mem != ([32]byte{}) {
		t.Fatal("Destroy did not zero the in-memory key")
	}
	old, err := os.ReadFile(oldCopy)
	if err != nil {
		t.Fatal(err)
	}
	if len(old) == 0 || bytes.Contains(old, k1[:]) || !bytes.Equal(old, make([]byte, len(old))) {
		t.Fatal("the superseded key file was not overwritten with zeros")
	}
	if err := r.Destroy(1); err != nil {
		t.Fatalf("destroying an absent epoch: %v", err)
	}
	if _, ok := r.Lookup(1); ok {
		t.Fatal("destroyed key still found")
	}

	re := openKeyring(t, dir)
	if _, ok := re.Lookup(1); ok {
		t.Fatal("destroyed key came back after reopen")
	}
	if k, ok := re.Lookup(2); !ok || k != k2 {
		t.Fatal("Destroy(1) lost the key of epoch 2")
	}
	cur, err := os.ReadFile(filepath.Join(dir, KeyringFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(cur, k1[:]) {
		t.Fatal("key file still holds the destroyed key")
	}
	if k := mustKey(t, re, 1); k == k1 {
		t.Fatal("a new key for a destroyed epoch equals the old one")
	}
}

func TestKeyringClose(t *testing.T) {
	dir := newStateDir(t)
	r, err := OpenKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	k1 := mustKey(t, r, 1)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Lookup(1); ok {
		t.Fatal("Lookup found a key after Close")
	}
	if _, err := r.Key(2); !errors.Is(err, ErrKeyringClosed) {
		t.Fatalf("Key after Close: %v, want ErrKeyringClosed", err)
	}
	if err := r.Destroy(1); !errors.Is(err, ErrKeyringClosed) {
		t.Fatalf("Destroy after Close: %v, want ErrKeyringClosed", err)
	}
	if k, ok := openKeyring(t, dir).Lookup(1); !ok || k != k1 {
		t.Fatal("Close changed the key file")
	}
}

func TestKeyringConcurrentKey(t *testing.T) {
	r := openKeyring(t, newStateDir(t))
	const workers = 8
	got := make([][4][32]byte, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for e := range 4 {
				k, err := r.Key(uint32(e))
				if err != nil {
					t.Error(err)
					return
				}
				got[w][e] = k
				r.Lookup(uint32(e))
				r.Epochs()
			}
		})
	}
	wg.Wait()
	for w := 1; w < workers; w++ {
		if got[w] != got[0] {
			t.Fatalf("worker %d saw different keys than worker 0", w)
		}
	}
}

// validKeyring returns a correctly checksummed file with the given entries,
// whatever their order, so tests can reach the checks behind the checksum.
func validKeyring(count uint32, epochs ...uint32) []byte {
	b := append([]byte(keyringMagic), keyringVersion)
	b = binary.BigEndian.AppendUint32(b, count)
	for _, e := range epochs {
		b = binary.BigEndian.AppendUint32(b, e)
		b = append(b, bytes.Repeat([]byte{byte(e)}, 32)...)
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func TestOpenKeyringRefuses(t *testing.T) {
	good := func(t *testing.T, dir string) []byte {
		t.Helper()
		r, err := OpenKeyring(dir)
		if err != nil {
			t.Fatal(err)
		}
		mustKey(t, r, 1)
		mustKey(t, r, 2)
		b, err := os.ReadFile(filepath.Join(dir, KeyringFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		file func(t *testing.T, dir string) []byte
		mode os.FileMode
		want error
	}{
		{"world-readable", good, 0o644, ErrInsecurePermissions},
		{"group-writable", good, 0o620, ErrInsecurePermissions},
		{"empty file", func(*testing.T, string) []byte { return nil }, 0o600, ErrCorrupt},
		{"flipped key bit", func(t *testing.T, dir string) []byte { b := good(t, dir); b[20] ^= 1; return b }, 0o600, ErrCorrupt},
		{"flipped checksum bit", func(t *testing.T, dir string) []byte { b := good(t, dir); b[len(b)-1] ^= 1; return b }, 0o600, ErrCorrupt},
		{"truncated", func(t *testing.T, dir string) []byte { b := good(t, dir); return b[:len(b)-1] }, 0o600, ErrCorrupt},
		{"bad magic", func(*testing.T, string) []byte { b := validKeyring(0); b[0] = 'X'; return b }, 0o600, ErrCorrupt},
		{"unknown version", func(*testing.T, string) []byte { b := validKeyring(0); b[4] = 9; return b }, 0o600, ErrCorrupt},
		{"count too high", func(*testing.T, string) []byte { return validKeyring(3, 1, 2) }, 0o600, ErrCorrupt},
		{"count too low", func(*testing.T, string) []byte { return validKeyring(1, 1, 2) }, 0o600, ErrCorrupt},
		{"count over max", func(*testing.T, string) []byte { return validKeyring(MaxEpochs + 1) }, 0o600, ErrCorrupt},
		{"descending epochs", func(*testing.T, string) []byte { return validKeyring(2, 2, 1) }, 0o600, ErrCorrupt},
		{"duplicate epochs", func(*testing.T, string) []byte { return validKeyring(2, 1, 1) }, 0o600, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newStateDir(t)
			path := filepath.Join(dir, KeyringFile)
			data := tt.file(t, dir)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			chmod(t, path, tt.mode)
			if _, err := OpenKeyring(dir); !errors.Is(err, tt.want) {
				t.Fatalf("OpenKeyring error = %v, want %v", err, tt.want)
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, data) {
				t.Fatal("a refused keyring file was changed")
			}
		})
	}
}

func FuzzDecodeKeyring(f *testing.F) {
	f.Add(validKeyring(0))
	f.Add(validKeyring(2, 1, 2))
	f.Add(validKeyring(2, 2, 1))
	f.Add([]byte(keyringMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := decodeKeyring(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(encodeKeyring(keys), data) {
			t.Fatal("a file that decodes does not re-encode to itself")
		}
	})
}

func FuzzDecodeIdentity(f *testing.F) {
	dp, _ := vectorPrivates()
	id, err := NewIdentity(dp)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encodeIdentity(id))
	f.Add([]byte(identityMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeIdentity(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(encodeIdentity(got), data) {
			t.Fatal("a file that decodes does not re-encode to itself")
		}
	})
}

// TestKeyringDestroyFailedSync: a Destroy whose rewrite fails after the rename (the
// directory sync) reports the error, and no later rewrite puts the key back: the
// next Destroy, even of an absent epoch, or Key writes the file without it.
func TestKeyringDestroyFailedSync(t *testing.T) {
	dir := newStateDir(t)
	r := openKeyring(t, dir)
	k1 := mustKey(t, r, 1)
	mustKey(t, r, 2)
	real := syncDir
	syncDir = func(string) error { return errors.New("injected: directory sync failed") }
	err := r.Destroy(1)
	syncDir = real
	if err == nil {
		t.Fatal("Destroy hid a failed directory sync")
	}
	if _, ok := r.Lookup(1); ok {
		t.Fatal("the destroyed key is still in memory")
	}
	if err := r.Destroy(1); err != nil { // retried by the shredder: finishes the rewrite
		t.Fatal(err)
	}
	mustKey(t, r, 3)
	r.Close()
	again := openKeyring(t, dir)
	if _, ok := again.Lookup(1); ok {
		t.Fatal("the destroyed key came back in the file")
	}
	raw, err := os.ReadFile(filepath.Join(dir, KeyringFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, k1[:]) {
		t.Fatal("the key file still holds the destroyed key")
	}
}
