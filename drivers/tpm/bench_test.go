package tpm

import (
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/lockerd/lockerd/internal/tpmtest"
	"github.com/lockerd/lockerd/locker/privacy"
)

// BenchmarkMAC is one keyed digest computed by the TPM (swtpm here): resident, the
// same purpose again (the pickup-code key stays loaded: one TPM2_HMAC); swapping,
// purposes alternating (a FlushContext, a Load and a TPM2_HMAC each), which is what
// load-on-demand costs when scans and code entries interleave, and about what the
// kernel's resource manager costs on /dev/tpmrm0. The software MAC of keys: file is
// beside them for the ratio (docs/benchmarks.md).
func BenchmarkMAC(b *testing.B) {
	sw := tpmtest.Start(b)
	f := newFleet(b)
	s := open(b, sw, stateDir(b), f)
	msg := []byte("12345678")
	b.Run("tpm-resident", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.MAC(privacy.PurposePickupCode, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tpm-swapping", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, err := s.MAC(privacy.MACPurposes[i%2], msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The alternative to load on demand: the key made persistent (EvictControl), so
	// that no blob of it is on the card and no Load is needed; the TPM still loads
	// it into a transient slot inside every command.
	b.Run("tpm-persistent", func(b *testing.B) {
		s.mu.Lock()
		defer s.mu.Unlock()
		h, err := s.load(s.macs[privacy.PurposePickupCode])
		if err != nil {
			b.Fatal(err)
		}
		persistent := tpm2.TPMHandle(0x81000100)
		owner := tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)}
		if _, err := (tpm2.EvictControl{Auth: owner, ObjectHandle: h, PersistentHandle: persistent}).Execute(s.tpm); err != nil {
			b.Fatal(err)
		}
		s.flush(h.Handle)
		key := tpm2.AuthHandle{Handle: persistent, Name: h.Name, Auth: tpm2.PasswordAuth(nil)}
		for b.Loop() {
			if _, err := (tpm2.Hmac{Handle: key, Buffer: tpm2.TPM2BMaxBuffer{Buffer: msg}, HashAlg: tpm2.TPMAlgSHA256}).Execute(s.tpm); err != nil {
				b.Fatal(err)
			}
		}
		_, _ = tpm2.EvictControl{Auth: owner, ObjectHandle: tpm2.NamedHandle{Handle: persistent, Name: h.Name}, PersistentHandle: persistent}.Execute(s.tpm)
	})
	soft := cloudKeys(b, f, s)
	b.Run("file", func(b *testing.B) {
		for b.Loop() {
			if _, err := soft.MAC(privacy.PurposePickupCode, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOpen is lockerd's start with keys: tpm on an enrolled station: the SRK
// derived again, the audit key unsealed and the keyring's KEKs read, each through a
// salted, encrypted session, and Close.
func BenchmarkOpen(b *testing.B) {
	sw := tpmtest.Start(b)
	f := newFleet(b)
	state := stateDir(b)
	open(b, sw, state, f).Close()
	for b.Loop() {
		s, err := Open(Options{StateDir: state, TPM: sw.TPM(), FleetPublic: f.public, LockerID: lockerID})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
