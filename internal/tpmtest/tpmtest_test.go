package tpmtest

import (
	"bytes"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// TestStartRestart checks the fixture: a TPM answers, a fresh one has other seeds
// than the first, and a restart on the kept state has the same seeds (the same
// primary key comes back from the owner hierarchy).
func TestStartRestart(t *testing.T) {
	a := Start(t)
	pubA := primaryName(t, a)
	b := Start(t)
	if bytes.Equal(pubA, primaryName(t, b)) {
		t.Fatal("two fresh TPMs derived the same primary key")
	}
	a.Restart()
	if got := primaryName(t, a); !bytes.Equal(got, pubA) {
		t.Fatalf("after a restart on the same state the primary key changed: %x, want %x", got, pubA)
	}
	a.Stop()
	a.Stop() // idempotent
	c := StartState(t, a.StateDir())
	if got := primaryName(t, c); !bytes.Equal(got, pubA) {
		t.Fatalf("StartState on the stopped TPM's state: primary %x, want %x", got, pubA)
	}
}

// primaryName creates the TCG's ECC storage root key and returns its name, which
// depends on the owner hierarchy's seed only.
func primaryName(t *testing.T, s *SWTPM) []byte {
	t.Helper()
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(s.TPM())
	if err != nil {
		t.Fatalf("CreatePrimary: %v", err)
	}
	if _, err := (tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}).Execute(s.TPM()); err != nil {
		t.Fatalf("FlushContext: %v", err)
	}
	return rsp.Name.Buffer
}
