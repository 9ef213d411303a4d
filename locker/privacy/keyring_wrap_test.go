package privacy

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// testWrap is a KeyWrap under a fixed key (a TPM's stand-in).
type testWrap struct{ key [32]byte }

func (w testWrap) Wrap(plain, ad []byte) ([]byte, error) { return SealBytes(w.key, plain, ad), nil }
func (w testWrap) Unwrap(wrapped, ad []byte) ([]byte, error) {
	return OpenBytes(w.key, wrapped, ad)
}

// TestWrappedKeyringRefusals: a wrapped keyring opens with its KeyWrap only; another
// one's is an error, never an empty keyring written over it.
func TestWrappedKeyringRefusals(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	r, err := OpenKeyringWrapped(dir, testWrap{key: [32]byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := r.Key(3)
	r.Close()
	before, _ := os.ReadFile(filepath.Join(dir, KeyringFile))
	if _, err := OpenKeyringWrapped(dir, testWrap{key: [32]byte{2}}); err == nil || !errors.Is(err, ErrUnseal) {
		t.Fatalf("another KeyWrap: %v", err)
	}
	if _, err := OpenKeyring(dir); !errors.Is(err, ErrKeyringWrapped) {
		t.Fatalf("no KeyWrap: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, KeyringFile)); string(after) != string(before) {
		t.Fatal("a refused open rewrote the keyring file")
	}
	r, err = OpenKeyringWrapped(dir, testWrap{key: [32]byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, ok := r.Lookup(3); !ok || got != k {
		t.Fatal("epoch 3 lost")
	}
}

// FuzzUnwrapKeyring: a wrapped keyring file of any content never panics, and what
// opens decodes as a keyring.
func FuzzUnwrapKeyring(f *testing.F) {
	w := testWrap{key: [32]byte{9}}
	plain := encodeKeyring(map[uint32]*[32]byte{1: {1}, 2: {2}})
	wrapped, _ := w.Wrap(plain, []byte(keyringWrapAD))
	f.Add(append(append([]byte(keyringWrappedMagic), keyringWrappedVersion), wrapped...))
	f.Add([]byte("LKEW"))
	f.Add([]byte("LKEW\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, err := unwrapKeyring(w, data)
		if err != nil {
			return
		}
		_, _ = decodeKeyring(plain)
	})
}
