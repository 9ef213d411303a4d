package privacy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWriteKeyFileCleansUpAfterFailure: a key file that cannot be put in place leaves
// no temp file behind, where key material that never came into use would stay on
// flash. Mutation testing (docs/testing.md) found the cleanup unguarded.
func TestWriteKeyFileCleansUpAfterFailure(t *testing.T) {
	dir := newStateDir(t)
	// A non-empty directory where the key file belongs: the rename over it fails.
	if err := os.MkdirAll(filepath.Join(dir, "k", "occupied"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeKeyFile(dir, "k", []byte("key material")); err == nil {
		t.Fatal("a key file was renamed over a directory")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix("k")) {
			t.Fatalf("temp file %s left behind after a failed write", e.Name())
		}
	}
}

// TestKeyringHoldsExactlyMaxEpochs: the keyring takes keys up to MaxEpochs and refuses
// the next, so that it never writes a file its own decoder refuses (a count over
// MaxEpochs is corrupt). Mutation testing found the limit's edge unguarded. The first
// MaxEpochs-1 keys are put in memory directly: creating each through Key would write
// the growing file 4,095 times.
func TestKeyringHoldsExactlyMaxEpochs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	r := openKeyring(t, dir)
	r.mu.Lock()
	for e := range uint32(MaxEpochs - 1) {
		r.keys[e] = &[32]byte{byte(e), byte(e >> 8), 1}
	}
	r.mu.Unlock()
	mustKey(t, r, MaxEpochs-1) // the last one there is room for, written with the rest
	if _, err := r.Key(MaxEpochs); !errors.Is(err, ErrKeyringFull) {
		t.Fatalf("key %d of a full keyring: %v, want ErrKeyringFull", MaxEpochs+1, err)
	}
	r.Close()
	again := openKeyring(t, dir)
	if n := len(again.Epochs()); n != MaxEpochs {
		t.Fatalf("reopened keyring holds %d keys, want %d", n, MaxEpochs)
	}
}

// TestKeyringDestroyRetryReportsFailure: when the shredder retries a Destroy whose
// rewrite failed and the rewrite fails again, the retry says so; the key file is not
// taken as done until a rewrite succeeds. Mutation testing found the retry's own
// failure unguarded (TestKeyringDestroyFailedSync retries only successfully).
func TestKeyringDestroyRetryReportsFailure(t *testing.T) {
	dir := newStateDir(t)
	r := openKeyring(t, dir)
	mustKey(t, r, 1)
	mustKey(t, r, 2)
	real := syncDir
	defer func() { syncDir = real }()
	syncDir = func(string) error { return errors.New("injected: directory sync failed") }
	if err := r.Destroy(1); err == nil {
		t.Fatal("Destroy hid a failed directory sync")
	}
	if err := r.Destroy(1); err == nil {
		t.Fatal("the retry of a failed Destroy hid its own failed directory sync")
	}
	syncDir = real
	if err := r.Destroy(1); err != nil {
		t.Fatalf("the retry with a working directory sync: %v", err)
	}
	r.Close()
	if _, ok := openKeyring(t, dir).Lookup(1); ok {
		t.Fatal("the destroyed key came back in the file")
	}
}

// TestOneSecondEpochs: the shortest epoch length, one second, is taken as given, not
// replaced by the default like a length under a second. Mutation testing found the
// edge unguarded.
func TestOneSecondEpochs(t *testing.T) {
	at := time.Unix(1_700_000_123, 0)
	if got := EpochOf(at, time.Second); got != 1_700_000_123 {
		t.Fatalf("EpochOf with one-second epochs = %d", got)
	}
	if got := EpochStart(42, time.Second); !got.Equal(time.Unix(42, 0)) {
		t.Fatalf("EpochStart(42) with one-second epochs = %v", got)
	}
	if got, want := EpochOf(at, time.Second-1), EpochOf(at, DefaultEpochLength); got != want {
		t.Fatalf("EpochOf under a second = %d, want the default length's %d", got, want)
	}
}

// TestCodeEdges: the digit 9, a code padded with white space to the longest raw input
// taken, and epoch 0 as a keyring's first key. Mutation testing found each unguarded.
func TestCodeEdges(t *testing.T) {
	if got, err := NormaliseLegacyCode("99999999"); err != nil || got != "99999999" {
		t.Fatalf("NormaliseCode(99999999) = %q, %v", got, err)
	}
	padded := strings.Repeat(" ", maxRawCode-8) + "12345678"
	if got, err := NormaliseLegacyCode(padded); err != nil || got != "12345678" {
		t.Fatalf("NormaliseCode of %d padded bytes = %q, %v", len(padded), got, err)
	}
	if _, err := NormaliseLegacyCode(" " + padded); !errors.Is(err, ErrCodeFormat) {
		t.Fatalf("NormaliseCode of %d bytes: %v, want ErrCodeFormat", len(padded)+1, err)
	}
}

func TestKeyringEpochZero(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	r := openKeyring(t, dir)
	k := mustKey(t, r, 0)
	mustKey(t, r, 1)
	r.Close()
	if got, ok := openKeyring(t, dir).Lookup(0); !ok || got != k {
		t.Fatal("the key of epoch 0 did not survive a reopen")
	}
}
