package lookup

import (
	"errors"
	"os"
	"testing"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

func TestParseEntry(t *testing.T) {
	for _, tc := range []struct {
		code, last4 string
		legacy      bool
		want        Entry
		err         error
	}{
		{"12345678", "4321", false, Entry{Code: "12345678", Last4: "4321"}, nil},
		{"1234567", "4321", false, Entry{}, ErrFormat},         // shorter than min_length
		{"12345678", "", false, Entry{}, ErrFormat},            // no phone digits
		{"12345678", "", true, Entry{Legacy: "12345678"}, nil}, // legacy lookup only
		{"12345678", "4321", true, Entry{Code: "12345678", Last4: "4321", Legacy: "12345678"}, nil},
		{"123456789", "4321", true, Entry{Code: "123456789", Last4: "4321"}, nil}, // too long for scheme 1
		{"12ab5678", "4321", true, Entry{}, ErrFormat},
	} {
		got, err := ParseEntry(tc.code, tc.last4, 8, tc.legacy)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("ParseEntry(%q, %q, legacy=%v) = %+v, %v; want %+v, %v", tc.code, tc.last4, tc.legacy, got, err, tc.want, tc.err)
		}
	}
}

// memIndex is a store index in memory: parcel records and sealed verifier rows.
type memIndex struct {
	parcels map[string]*store.Record
	codes   map[privacy.Digest][]string
}

func (m memIndex) Parcel(id string) (*store.Record, error) {
	if r, ok := m.parcels[id]; ok {
		return r, nil
	}
	return nil, store.ErrUnknownParcel
}
func (m memIndex) ByWaybill(privacy.Digest) (string, bool) { return "", false }
func (m memIndex) ByCode(sealed privacy.Digest) []string   { return m.codes[sealed] }

func newIndex(t *testing.T) Index {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kr, err := privacy.OpenKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kr.Close() })
	return Index{Keyring: kr}
}

// TestByVerifierMatchesOnlyItsKind: a digest that is one parcel's QR verifier does not
// open it as a code: each kind of entry opens only its own kind of verifier.
func TestByVerifierMatchesOnlyItsKind(t *testing.T) {
	x := newIndex(t)
	v := privacy.Digest{7}
	sealed, err := x.Seal(5, v)
	if err != nil {
		t.Fatal(err)
	}
	m := memIndex{parcels: map[string]*store.Record{"p-1": {ID: "p-1", Epoch: 5, QRVerifier: sealed, State: "deposited"}},
		codes: map[privacy.Digest][]string{sealed: {"p-1"}}}
	if ps, err := x.ByVerifier(m, Key{QR, v}, []uint32{5}); err != nil || len(ps) != 1 || ps[0].ID != "p-1" {
		t.Fatalf("QR lookup: %v, %v", ps, err)
	}
	for _, k := range []Kind{Code2, Legacy} {
		if ps, err := x.ByVerifier(m, Key{k, v}, []uint32{5}); err != nil || len(ps) != 0 {
			t.Fatalf("kind %d opened a QR verifier: %v, %v", k, ps, err)
		}
	}
}

// TestSealedWaybillOpensOnlyWhileItsEpochKeyLasts.
func TestSealedWaybillOpensOnlyWhileItsEpochKeyLasts(t *testing.T) {
	x := newIndex(t)
	d := privacy.Digest{1, 2, 3}
	sealed, err := x.SealWaybill(9, d)
	if err != nil {
		t.Fatal(err)
	}
	if got := x.OpenWaybill(sealed); got == nil || *got != d {
		t.Fatalf("OpenWaybill = %v, want %v", got, d)
	}
	if !x.Matches(&model.Parcel{Epoch: 9, Waybill: mustSeal(t, x, 9, d)}, d) {
		t.Fatal("Matches refused the parcel's own waybill")
	}
	if err := x.Keyring.Destroy(9); err != nil {
		t.Fatal(err)
	}
	if got := x.OpenWaybill(sealed); got != nil {
		t.Fatal("a waybill opened after its epoch key was destroyed")
	}
}

func mustSeal(t *testing.T, x Index, e uint32, d privacy.Digest) privacy.Digest {
	t.Helper()
	s, err := x.Seal(e, d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
