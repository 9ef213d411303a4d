package tpm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/lockerd/lockerd/internal/tpmtest"
	"github.com/lockerd/lockerd/locker/privacy"
)

const lockerID = "L-TPM-1"

type fleet struct{ private, public [32]byte }

func newFleet(t testing.TB) fleet {
	t.Helper()
	priv, pub, err := privacy.GenerateFleetKey()
	if err != nil {
		t.Fatal(err)
	}
	return fleet{priv, pub}
}

func open(t testing.TB, sw *tpmtest.SWTPM, state string, f fleet) *Store {
	t.Helper()
	s, err := Open(Options{StateDir: state, TPM: sw.TPM(), FleetPublic: f.public, LockerID: lockerID,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// stateDir is a new state directory (0700, as lockerd requires).
func stateDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "state")
}

// cloudKeys are the keys the fleet derives from the public key the station reports.
func cloudKeys(t testing.TB, f fleet, s *Store) *privacy.Keys {
	t.Helper()
	k, err := privacy.DeriveCloudKeys(f.private, s.Public(), lockerID)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// cardBytes is every file under dir, concatenated.
func cardBytes(t testing.TB, dir string) []byte {
	t.Helper()
	var all []byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		all = append(all, b...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestEnrolment: the first Open enrols; every digest the TPM computes equals the
// fleet's from the reported public key; the audit key too; and no key the fleet
// shares, nor any identity file, is on the card.
func TestEnrolment(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	state := stateDir(t)
	s := open(t, sw, state, f)
	cloud := cloudKeys(t, f, s)
	msg := []byte("SF1234567890123")
	for _, p := range privacy.MACPurposes {
		got, err := s.MAC(p, msg)
		if err != nil {
			t.Fatalf("MAC %s: %v", p, err)
		}
		want, _ := cloud.MAC(p, msg)
		if got != want {
			t.Fatalf("MAC %s: the TPM's digest differs from the fleet's", p)
		}
	}
	if !bytes.Equal(s.AuditKey(), cloud.AuditKey()) {
		t.Fatal("audit key differs from the fleet's")
	}
	if !bytes.Equal(s.EventKey(), cloud.EventKey()) {
		t.Fatal("event key differs from the fleet's")
	}
	card := cardBytes(t, state)
	for _, p := range privacy.MACPurposes {
		k, _ := cloud.PurposeKey(p)
		if bytes.Contains(card, k[:]) {
			t.Fatalf("the %s key is on the card in clear", p)
		}
	}
	if bytes.Contains(card, cloud.AuditKey()) {
		t.Fatal("the audit key is on the card in clear")
	}
	if bytes.Contains(card, cloud.EventKey()) {
		t.Fatal("the event key is on the card in clear")
	}
	if _, err := os.Stat(filepath.Join(state, privacy.IdentityFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an identity file exists: %v", err)
	}
	if _, err := s.MAC("no-such-purpose", msg); err == nil {
		t.Fatal("MAC under an unknown purpose succeeded")
	}
}

// TestSameTPMAfterRestart: after a power cycle the same TPM opens the same keys (the
// SRK derived again, nothing of it stored) without enrolling again.
func TestSameTPMAfterRestart(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	state := stateDir(t)
	s := open(t, sw, state, f)
	before, _ := s.MAC(privacy.PurposePickupCode, []byte("12345678"))
	pub := s.Public()
	enrol, _ := os.ReadFile(filepath.Join(state, Dir, enrolmentFile))
	s.Close()
	sw.Restart()
	s2 := open(t, sw, state, f)
	after, err := s2.MAC(privacy.PurposePickupCode, []byte("12345678"))
	if err != nil || after != before || s2.Public() != pub {
		t.Fatalf("after a restart: digest equal %v, public equal %v, err %v", after == before, s2.Public() == pub, err)
	}
	if again, _ := os.ReadFile(filepath.Join(state, Dir, enrolmentFile)); !bytes.Equal(again, enrol) {
		t.Fatal("the station enrolled again")
	}
}

// TestFreshTPMRefusesTheCard: the card in another device: no blob loads.
func TestFreshTPMRefusesTheCard(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	state := stateDir(t)
	s := open(t, sw, state, f)
	if err := s.Seal("mqtt-password", []byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	other := tpmtest.Start(t)
	_, err := Open(Options{StateDir: state, TPM: other.TPM(), FleetPublic: f.public, LockerID: lockerID, Log: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("a fresh TPM opened the card's keys")
	}
	t.Logf("fresh TPM: %v", err)
}

// TestEnrolmentMismatch: another fleet key or locker id, or a purpose or the event
// key enrolled before it existed, is refused: nothing can derive the keys again.
func TestEnrolmentMismatch(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	state := stateDir(t)
	open(t, sw, state, f).Close()
	g := newFleet(t)
	if _, err := Open(Options{StateDir: state, TPM: sw.TPM(), FleetPublic: g.public, LockerID: lockerID}); !errors.Is(err, ErrEnrolment) {
		t.Fatalf("another fleet key: %v", err)
	}
	if _, err := Open(Options{StateDir: state, TPM: sw.TPM(), FleetPublic: f.public, LockerID: "L-OTHER"}); !errors.Is(err, ErrEnrolment) {
		t.Fatalf("another locker id: %v", err)
	}
	// Enrolled before the event key existed (ADR 0050): refused, then put back.
	eventBlob := filepath.Join(state, Dir, eventFile)
	saved, err := os.ReadFile(eventBlob)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(eventBlob); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{StateDir: state, TPM: sw.TPM(), FleetPublic: f.public, LockerID: lockerID}); !errors.Is(err, ErrEnrolment) {
		t.Fatalf("no event key: %v", err)
	}
	if err := os.WriteFile(eventBlob, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	open(t, sw, state, f).Close()
	if err := os.Remove(filepath.Join(state, Dir, macFile(privacy.MACPurposes[len(privacy.MACPurposes)-1]))); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{StateDir: state, TPM: sw.TPM(), FleetPublic: f.public, LockerID: lockerID}); !errors.Is(err, ErrEnrolment) {
		t.Fatalf("a purpose without a key: %v", err)
	}
}

// TestSealedSecret: a secret larger than a sealed object holds (a PEM key) round
// trips; a missing one says fs.ErrNotExist; a fresh TPM cannot open it.
func TestSealedSecret(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	state := stateDir(t)
	s := open(t, sw, state, f)
	secret := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
	if err := s.Seal("mqtt-key", secret); err != nil {
		t.Fatal(err)
	}
	got, err := s.Unseal("mqtt-key")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unseal: %v", err)
	}
	if !s.HasSecret("mqtt-key") || s.HasSecret("mqtt-password") {
		t.Fatal("HasSecret is wrong")
	}
	if _, err := s.Unseal("mqtt-password"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing secret: %v", err)
	}
	if err := s.Seal("../x", secret); err == nil {
		t.Fatal("a name with a path was accepted")
	}
	if bytes.Contains(cardBytes(t, state), secret[:32]) {
		t.Fatal("the secret is on the card in clear")
	}
}

// TestWrappedKeyring: epochs.key wrapped under the TPM's key-encryption key opens
// with the store only; a plain keyring (a station moved from keys: file) is
// rewritten wrapped.
func TestWrappedKeyring(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	state := stateDir(t)
	plain, err := privacy.OpenKeyring(state)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := plain.Key(7)
	plain.Close()
	s := open(t, sw, state, f)
	r, err := privacy.OpenKeyringWrapped(state, s)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := r.Key(8)
	if got, ok := r.Lookup(7); !ok || got != old {
		t.Fatal("the plain keyring's key was lost in the move")
	}
	r.Close()
	card := cardBytes(t, state)
	if bytes.Contains(card, old[:]) || bytes.Contains(card, k[:]) {
		t.Fatal("an epoch key is on the card in clear")
	}
	if _, err := privacy.OpenKeyring(state); !errors.Is(err, privacy.ErrKeyringWrapped) {
		t.Fatalf("OpenKeyring of a wrapped file: %v", err)
	}
	r, err = privacy.OpenKeyringWrapped(state, s)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, ok := r.Lookup(8); !ok || got != k {
		t.Fatal("the wrapped keyring lost a key")
	}
}

// TestMACFailsWhenTheTPMIsGone: a TPM that stops answering gives an error, never a
// digest (the station reports a fault, not a wrong code).
func TestMACFailsWhenTheTPMIsGone(t *testing.T) {
	sw := tpmtest.Start(t)
	s := open(t, sw, stateDir(t), newFleet(t))
	if _, err := s.MAC(privacy.PurposePickupCode, []byte("12345678")); err != nil {
		t.Fatal(err)
	}
	sw.Stop()
	if d, err := s.MAC(privacy.PurposePickupCode, []byte("12345678")); err == nil {
		t.Fatalf("MAC without a TPM returned %x", d)
	}
	s.Close()
	if _, err := s.MAC(privacy.PurposePickupCode, []byte("1")); !errors.Is(err, ErrClosed) {
		t.Fatalf("MAC after Close: %v", err)
	}
}

// TestRevealsNothing: the store's printed forms carry no key.
func TestRevealsNothing(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	s := open(t, sw, stateDir(t), f)
	audit := hex.EncodeToString(s.AuditKey())
	var log bytes.Buffer
	slog.New(slog.NewTextHandler(&log, nil)).Info("x", "store", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%#v", s), fmt.Sprintf("%+v", s), log.String()} {
		if strings.Contains(out, audit) || strings.Contains(out, hex.EncodeToString(s.kek.key()[:])) {
			t.Fatalf("a printed form shows a key: %s", out)
		}
	}
}

// TestShreddedEpochStaysShredded: the whole-device attacker who also kept a copy of
// epochs.key from before a Destroy cannot open it: the KEK that wrapped it was
// replaced in the TPM's NV index at the rewrite.
func TestShreddedEpochStaysShredded(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	state := stateDir(t)
	s := open(t, sw, state, f)
	r, err := privacy.OpenKeyringWrapped(state, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Key(1); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Key(2); err != nil {
		t.Fatal(err)
	}
	oldCopy := stateDir(t)
	copyFile(t, filepath.Join(state, privacy.KeyringFile), filepath.Join(oldCopy, privacy.KeyringFile))
	if err := r.Destroy(1); err != nil {
		t.Fatal(err)
	}
	r.Close()
	s.Close()

	// The stolen device, after a restart, with the old copy of the file.
	sw.Restart()
	thief := open(t, sw, state, f)
	if old, err := privacy.OpenKeyringWrapped(oldCopy, thief); err == nil {
		k, ok := old.Lookup(1)
		t.Fatalf("the pre-Destroy copy of epochs.key opened on the same TPM (epoch 1 present: %v, %x)", ok, k[:4])
	}
	// The current file opens, without epoch 1.
	cur, err := privacy.OpenKeyringWrapped(state, thief)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	if _, ok := cur.Lookup(1); ok {
		t.Fatal("the destroyed epoch is back")
	}
	if _, ok := cur.Lookup(2); !ok {
		t.Fatal("epoch 2 was lost")
	}
}

// TestKEKPowerCut: a power cut after the NV write of a new KEK and before the
// keyring file's rename leaves the old file, which still opens; the next durable
// write drops the old key. Wrap refuses once too many writes failed in a row.
func TestKEKPowerCut(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	state := stateDir(t)
	s := open(t, sw, state, f)
	r, err := privacy.OpenKeyringWrapped(state, s)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := r.Key(5)
	r.Close()
	// A rewrite that got as far as the NV write: the new key is in the TPM, the file
	// on the card is still the one under the old key.
	if _, err := s.Wrap([]byte("never written"), []byte("lockerd keyring v1")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	sw.Restart()
	s = open(t, sw, state, f)
	if s.nKEK != 2 {
		t.Fatalf("%d KEKs in NV after the cut, want 2", s.nKEK)
	}
	r, err = privacy.OpenKeyringWrapped(state, s)
	if err != nil {
		t.Fatalf("the keyring did not survive a cut between the NV write and the rename: %v", err)
	}
	if got, ok := r.Lookup(5); !ok || got != k {
		t.Fatal("epoch 5 lost")
	}
	if _, err := r.Key(6); err != nil { // a durable rewrite
		t.Fatal(err)
	}
	r.Close()
	if s.nKEK != 1 {
		t.Fatalf("%d KEKs in NV after a durable write, want 1", s.nKEK)
	}
	for i := 1; i < maxKEKs; i++ {
		if _, err := s.Wrap([]byte("x"), nil); err != nil {
			t.Fatalf("failed write %d: %v", i, err)
		}
	}
	if _, err := s.Wrap([]byte("x"), nil); err == nil {
		t.Fatalf("Wrap after %d failed writes in a row replaced the key again", maxKEKs-1)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tap records every command and response that crosses the bus.
type tap struct {
	tpm transport.TPM
	mu  sync.Mutex
	all []byte
}

func (t *tap) Send(cmd []byte) ([]byte, error) {
	rsp, err := t.tpm.Send(cmd)
	t.mu.Lock()
	t.all = append(append(t.all, cmd...), rsp...)
	t.mu.Unlock()
	return rsp, err
}

func (t *tap) seen() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.all)
}

// TestBusCarriesNoSecret: a probe on the bus between the SoC and the TPM, at
// enrolment and at start, sees none of the keys the fleet shares, nor the audit key
// or the keyring's KEK: imports, unseals and NV accesses use salted, encrypted
// sessions.
func TestBusCarriesNoSecret(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	state := stateDir(t)
	probe := &tap{tpm: sw.TPM()}
	s, err := Open(Options{StateDir: state, TPM: probe, FleetPublic: f.public, LockerID: lockerID, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cloud := cloudKeys(t, f, s)
	kek := *s.kek.slot(0)
	s.Close()
	probe2 := &tap{tpm: sw.TPM()}
	s, err = Open(Options{StateDir: state, TPM: probe2, FleetPublic: f.public, LockerID: lockerID, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if *s.kek.slot(0) != kek {
		t.Fatal("the KEK changed across a restart")
	}
	for name, bus := range map[string][]byte{"enrolment": probe.seen(), "start": probe2.seen()} {
		for _, p := range privacy.MACPurposes {
			k, _ := cloud.PurposeKey(p)
			if bytes.Contains(bus, k[:]) {
				t.Errorf("%s: the %s key crossed the bus in clear", name, p)
			}
		}
		if bytes.Contains(bus, cloud.AuditKey()) {
			t.Errorf("%s: the audit key crossed the bus in clear", name)
		}
		if bytes.Contains(bus, cloud.EventKey()) {
			t.Errorf("%s: the event key crossed the bus in clear", name)
		}
		if bytes.Contains(bus, kek[:]) {
			t.Errorf("%s: the keyring's KEK crossed the bus in clear", name)
		}
	}
}

// TestConcurrentMAC: digests requested from many goroutines at once, purposes
// interleaved (so keys are swapped in and out of the TPM's slots), are all right.
func TestConcurrentMAC(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	s := open(t, sw, stateDir(t), f)
	cloud := cloudKeys(t, f, s)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				p := privacy.MACPurposes[(g+i)%len(privacy.MACPurposes)]
				msg := []byte(fmt.Sprintf("%d-%d", g, i))
				got, err := s.MAC(p, msg)
				want, _ := cloud.MAC(p, msg)
				if err != nil || got != want {
					errs <- fmt.Errorf("goroutine %d, MAC %d (%s): %v, equal %v", g, i, p, err, got == want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestDamagedKeyBlob: a purpose key's blob altered on the card (its own checksum
// made right again) is refused by the TPM at start, not at the first code entry.
func TestDamagedKeyBlob(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	state := stateDir(t)
	open(t, sw, state, f).Close()
	p := privacy.MACPurposes[0]
	path := filepath.Join(state, Dir, macFile(p))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := decodeBlob(data)
	if err != nil {
		t.Fatal(err)
	}
	b.private[len(b.private)-1] ^= 1
	if err := os.WriteFile(path, b.encode(), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{StateDir: state, TPM: sw.TPM(), FleetPublic: f.public, LockerID: lockerID, Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), string(p)) {
		t.Fatalf("Open with a damaged %s blob: %v", p, err)
	}
}
