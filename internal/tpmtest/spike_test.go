package tpmtest

// The spike behind docs/adr/0047-device-keys-in-a-tpm.md: the three ways the device
// secrets could live in a TPM, each checked against a real swtpm and timed. Nothing here
// is production code yet; run with -v to see the rates the ADR quotes.

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// measureFor is how long each rate is measured.
const measureFor = 400 * time.Millisecond

// blob is what would be stored on the card for one TPM-wrapped object: its public
// area and its private area encrypted under the TPM's storage key.
type blob struct{ public, private []byte }

func (b blob) marshalled(t *testing.T) (*tpm2.TPM2BPublic, *tpm2.TPM2BPrivate) {
	t.Helper()
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](b.public)
	if err != nil {
		t.Fatalf("unmarshal public: %v", err)
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](b.private)
	if err != nil {
		t.Fatalf("unmarshal private: %v", err)
	}
	return pub, priv
}

// srk creates the TCG's ECC P-256 storage root key in the owner hierarchy. It derives
// from the hierarchy's seed alone, so every start of the same TPM recreates the same key
// and nothing of it is stored; another TPM derives another one. It is flushed when t
// ends.
func srk(t *testing.T, tpm transport.TPM) tpm2.NamedHandle {
	t.Helper()
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("CreatePrimary: %v", err)
	}
	t.Cleanup(func() { flush(tpm, rsp.ObjectHandle) })
	return tpm2.NamedHandle{Handle: rsp.ObjectHandle, Name: rsp.Name}
}

func flush(tpm transport.TPM, h tpm2.TPMHandle) {
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(tpm)
}

// create makes a child object of parent from template (with sensitive data when data
// is not nil) and returns its blob.
func create(t *testing.T, tpm transport.TPM, parent tpm2.NamedHandle, template tpm2.TPMTPublic, data []byte) blob {
	t.Helper()
	sens := tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{}}
	if data != nil {
		sens.Sensitive.Data = tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: data})
	}
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{Handle: parent.Handle, Name: parent.Name, Auth: tpm2.PasswordAuth(nil)},
		InSensitive:  sens,
		InPublic:     tpm2.New2B(template),
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return blob{public: tpm2.Marshal(rsp.OutPublic), private: tpm2.Marshal(rsp.OutPrivate)}
}

// load loads a blob under parent; the TPM checks the private area's integrity with its
// own storage key, so a blob made by another TPM is refused.
func load(t *testing.T, tpm transport.TPM, parent tpm2.NamedHandle, b blob) (tpm2.AuthHandle, error) {
	t.Helper()
	pub, priv := b.marshalled(t)
	rsp, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: parent.Handle, Name: parent.Name, Auth: tpm2.PasswordAuth(nil)},
		InPrivate:    *priv,
		InPublic:     *pub,
	}.Execute(tpm)
	if err != nil {
		return tpm2.AuthHandle{}, err
	}
	t.Cleanup(func() { flush(tpm, rsp.ObjectHandle) })
	return tpm2.AuthHandle{Handle: rsp.ObjectHandle, Name: rsp.Name, Auth: tpm2.PasswordAuth(nil)}, nil
}

// fixed are the attributes of every object here: it never leaves this TPM (not even
// duplicated under another parent), and using it needs only the empty password, with
// no dictionary-attack lockout (the device has no secret to authorise with anyway).
var fixed = tpm2.TPMAObject{FixedTPM: true, FixedParent: true, UserWithAuth: true, NoDA: true}

// rate runs op for measureFor and returns operations per second.
func rate(t *testing.T, op func() error) float64 {
	t.Helper()
	n, start := 0, time.Now()
	for time.Since(start) < measureFor {
		if err := op(); err != nil {
			t.Fatalf("after %d operations: %v", n, err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}

// TestSpikeSealUnseal: option A. A 32-byte device secret (the X25519 identity key, an
// epoch key, the broker password) sealed by the TPM: the blob on the card opens on this
// TPM only, after a power cycle too, and on no other.
func TestSpikeSealUnseal(t *testing.T) {
	s := Start(t)
	secret := make([]byte, 32)
	rand.Read(secret)
	sealed := tpm2.TPMTPublic{Type: tpm2.TPMAlgKeyedHash, NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: fixed}
	b := create(t, s.TPM(), srk(t, s.TPM()), sealed, secret)
	t.Logf("sealed blob on the card: %d bytes (public %d, private %d)", len(b.public)+len(b.private), len(b.public), len(b.private))

	// What lockerd would do at every start: recreate the SRK, load the blob, unseal.
	s.Restart()
	start := time.Now()
	parent := srk(t, s.TPM())
	obj, err := load(t, s.TPM(), parent, b)
	if err != nil {
		t.Fatalf("Load on the same TPM after a restart: %v", err)
	}
	rsp, err := tpm2.Unseal{ItemHandle: obj}.Execute(s.TPM())
	if err != nil {
		t.Fatalf("Unseal: %v", err)
	}
	t.Logf("start-up on swtpm (CreatePrimary ECC + Load + Unseal): %v", time.Since(start).Round(time.Microsecond))
	if !bytes.Equal(rsp.OutData.Buffer, secret) {
		t.Fatal("unsealed secret differs")
	}
	unseals := rate(t, func() error { _, err := tpm2.Unseal{ItemHandle: obj}.Execute(s.TPM()); return err })
	t.Logf("swtpm Unseal of 32 bytes: %.0f/s", unseals)

	// The card in another device: a fresh TPM cannot load, let alone unseal, the blob.
	other := Start(t)
	if _, err := load(t, other.TPM(), srk(t, other.TPM()), b); err == nil {
		t.Fatal("a fresh TPM loaded the sealed blob")
	} else {
		t.Logf("fresh TPM refuses the blob: %v", err)
	}
}

// hmacTemplate is an HMAC-SHA256 key. Generated in the TPM (data nil,
// SensitiveDataOrigin) nobody ever knows it; imported (data set) it is the one the
// cloud derives too, and after Create it exists outside the TPM only in the blob.
func hmacTemplate(generated bool) tpm2.TPMTPublic {
	attrs := fixed
	attrs.SignEncrypt = true
	attrs.SensitiveDataOrigin = generated
	return tpm2.TPMTPublic{
		Type: tpm2.TPMAlgKeyedHash, NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: attrs,
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{
				Scheme:  tpm2.TPMAlgHMAC,
				Details: tpm2.NewTPMUSchemeKeyedHash(tpm2.TPMAlgHMAC, &tpm2.TPMSSchemeHMAC{HashAlg: tpm2.TPMAlgSHA256}),
			},
		}),
	}
}

// TestSpikeHMACInTPM: option B. The keyed digests computed by the TPM with keys that
// never leave it: an attacker holding the card and the TPM can still only query it, at
// the TPM's speed. The test checks that a key imported at enrolment (the HKDF-derived
// pickup-code key, which the cloud shares) gives the same digest as crypto/hmac, that a
// TPM-generated key (for the device-only epoch keys) cannot be read out, and measures
// TPM2_HMAC and the HMAC_Start/SequenceComplete pair.
func TestSpikeHMACInTPM(t *testing.T) {
	s := Start(t)
	tpm := s.TPM()
	parent := srk(t, tpm)
	codeKey := make([]byte, 32)
	rand.Read(codeKey)
	imported := create(t, tpm, parent, hmacTemplate(false), codeKey)
	generated := create(t, tpm, parent, hmacTemplate(true), nil)

	msg := make([]byte, 32) // a 32-byte input: a digest to seal under an epoch key
	rand.Read(msg)
	key, err := load(t, tpm, parent, imported)
	if err != nil {
		t.Fatalf("Load imported HMAC key: %v", err)
	}
	hmacCmd := tpm2.Hmac{Handle: key, Buffer: tpm2.TPM2BMaxBuffer{Buffer: msg}, HashAlg: tpm2.TPMAlgSHA256}
	rsp, err := hmacCmd.Execute(tpm)
	if err != nil {
		t.Fatalf("TPM2_HMAC: %v", err)
	}
	want := hmac.New(sha256.New, codeKey)
	want.Write(msg)
	if !hmac.Equal(rsp.OutHMAC.Buffer, want.Sum(nil)) {
		t.Fatal("TPM2_HMAC under the imported key differs from crypto/hmac")
	}

	gen, err := load(t, tpm, parent, generated)
	if err != nil {
		t.Fatalf("Load generated HMAC key: %v", err)
	}
	if _, err := (tpm2.Unseal{ItemHandle: gen}).Execute(tpm); err == nil {
		t.Fatal("Unseal read out a TPM-generated HMAC key")
	} else {
		t.Logf("Unseal of an HMAC key refused: %v", err)
	}
	// swtpm, like the SLB9670, holds three loaded objects: the SRK, the code key and
	// the HMAC sequence below. (On a device the kernel's resource manager, /dev/tpmrm0,
	// swaps contexts in and out; the rate with a Load per digest bounds that cost.)
	flush(tpm, gen.Handle)

	one := rate(t, func() error { _, err := hmacCmd.Execute(tpm); return err })
	t.Logf("swtpm TPM2_HMAC-SHA256 of 32 bytes: %.0f/s (%.0f µs each)", one, 1e6/one)
	seq := rate(t, func() error {
		st, err := tpm2.HmacStart{Handle: key, HashAlg: tpm2.TPMAlgSHA256}.Execute(tpm)
		if err != nil {
			return err
		}
		_, err = tpm2.SequenceComplete{
			SequenceHandle: tpm2.AuthHandle{Handle: st.SequenceHandle, Auth: tpm2.PasswordAuth(nil)},
			Buffer:         tpm2.TPM2BMaxBuffer{Buffer: msg},
			Hierarchy:      tpm2.TPMRHNull,
		}.Execute(tpm)
		return err
	})
	t.Logf("swtpm HMAC_Start + SequenceComplete of 32 bytes: %.0f/s", seq)
	pub, priv := imported.marshalled(t)
	swapped := rate(t, func() error {
		l, err := tpm2.Load{
			ParentHandle: tpm2.AuthHandle{Handle: parent.Handle, Name: parent.Name, Auth: tpm2.PasswordAuth(nil)},
			InPrivate:    *priv,
			InPublic:     *pub,
		}.Execute(tpm)
		if err != nil {
			return err
		}
		defer flush(tpm, l.ObjectHandle)
		_, err = tpm2.Hmac{
			Handle:  tpm2.AuthHandle{Handle: l.ObjectHandle, Name: l.Name, Auth: tpm2.PasswordAuth(nil)},
			Buffer:  tpm2.TPM2BMaxBuffer{Buffer: msg},
			HashAlg: tpm2.TPMAlgSHA256,
		}.Execute(tpm)
		return err
	})
	t.Logf("swtpm Load + TPM2_HMAC + FlushContext (a key not resident): %.0f/s", swapped)
	soft := rate(t, func() error {
		h := hmac.New(sha256.New, codeKey)
		h.Write(msg)
		h.Sum(nil)
		return nil
	})
	t.Logf("for scale, crypto/hmac on this host (this build): %.0f/s", soft)

	// The same blobs on another TPM: nothing.
	other := Start(t)
	if _, err := load(t, other.TPM(), srk(t, other.TPM()), imported); err == nil {
		t.Fatal("a fresh TPM loaded the HMAC key blob")
	}
}

// TestSpikeECDHP256: the alternative to a sealed X25519 identity. A P-256 key generated
// in the TPM; TPM2_ECDH_ZGen with the fleet's P-256 public key gives the x coordinate
// of the shared point, which must equal what the fleet computes with crypto/ecdh, and
// HKDF over it is unchanged. The private key never leaves the TPM.
func TestSpikeECDHP256(t *testing.T) {
	s := Start(t)
	tpm := s.TPM()
	parent := srk(t, tpm)
	attrs := fixed
	attrs.SensitiveDataOrigin, attrs.Decrypt = true, true
	identity := create(t, tpm, parent, tpm2.TPMTPublic{
		Type: tpm2.TPMAlgECC, NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: attrs,
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			CurveID: tpm2.TPMECCNistP256,
			Scheme: tpm2.TPMTECCScheme{
				Scheme:  tpm2.TPMAlgECDH,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDH, &tpm2.TPMSKeySchemeECDH{HashAlg: tpm2.TPMAlgSHA256}),
			},
		}),
	}, nil)
	key, err := load(t, tpm, parent, identity)
	if err != nil {
		t.Fatalf("Load ECDH key: %v", err)
	}

	// The device's public key, as it would be reported at provisioning.
	pubArea, _ := identity.marshalled(t)
	pub, err := pubArea.Contents()
	if err != nil {
		t.Fatal(err)
	}
	point, err := pub.Unique.ECC()
	if err != nil {
		t.Fatal(err)
	}
	parms, err := pub.Parameters.ECCDetail()
	if err != nil {
		t.Fatal(err)
	}
	devicePub, err := tpm2.ECDHPub(parms, point)
	if err != nil {
		t.Fatal(err)
	}

	fleet, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x, y, err := tpm2.ECCPoint(fleet.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	zgen := tpm2.ECDHZGen{KeyHandle: key, InPoint: tpm2.New2B(tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: x.FillBytes(make([]byte, 32))},
		Y: tpm2.TPM2BECCParameter{Buffer: y.FillBytes(make([]byte, 32))},
	})}
	rsp, err := zgen.Execute(tpm)
	if err != nil {
		t.Fatalf("ECDH_ZGen: %v", err)
	}
	z, err := rsp.OutPoint.Contents()
	if err != nil {
		t.Fatal(err)
	}
	cloud, err := fleet.ECDH(devicePub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(z.X.Buffer, cloud) {
		t.Fatal("TPM ECDH_ZGen x differs from the fleet's crypto/ecdh")
	}
	// HKDF as ADR 0001, under a new salt prefix: both sides get the same key.
	device, err := hkdf.Key(sha256.New, z.X.Buffer, []byte("lockerd/v2/L-1"), "pickup-code", 32)
	if err != nil {
		t.Fatal(err)
	}
	fleetKey, err := hkdf.Key(sha256.New, cloud, []byte("lockerd/v2/L-1"), "pickup-code", 32)
	if err != nil || !bytes.Equal(device, fleetKey) {
		t.Fatalf("HKDF over the TPM's Z differs from the fleet's: %v", err)
	}

	// An invalid point is refused by the TPM (the X25519 all-zero check's counterpart).
	bad := tpm2.ECDHZGen{KeyHandle: key, InPoint: tpm2.New2B(tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
		Y: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
	})}
	if _, err := bad.Execute(tpm); err == nil {
		t.Fatal("ECDH_ZGen accepted a point off the curve")
	} else {
		var rc tpm2.TPMRC
		if errors.As(err, &rc) {
			t.Logf("point off the curve refused: %v", err)
		}
	}

	start := time.Now()
	if _, err := load(t, tpm, parent, identity); err != nil {
		t.Fatal(err)
	}
	t.Logf("swtpm Load of the ECDH key: %v", time.Since(start).Round(time.Microsecond))
	zgens := rate(t, func() error { _, err := zgen.Execute(tpm); return err })
	t.Logf("swtpm ECDH_ZGen P-256: %.0f/s (%.2f ms each)", zgens, 1e3/zgens)
}
