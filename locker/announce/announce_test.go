package announce

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
)

// tagSealer "seals" by marking the digest with its epoch, so a test can tell sealed
// from plain and which epoch was used.
type tagSealer struct{}

func (tagSealer) Seal(e uint32, d privacy.Digest) (privacy.Digest, error) {
	d[31] = byte(e)
	return d, nil
}

func TestValidate(t *testing.T) {
	ok := Announcement{ID: "p-1", Waybill: privacy.Digest{1}, Size: model.SizeM, Hint: "…1234"}
	if err := ok.Validate(false); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		mod  func(*Announcement)
		want string
	}{
		"no id":      {func(a *Announcement) { a.ID = "" }, "parcel id must be"},
		"long id":    {func(a *Announcement) { a.ID = model.ParcelID(strings.Repeat("x", 65)) }, "parcel id must be"},
		"no waybill": {func(a *Announcement) { a.Waybill = privacy.Digest{} }, "waybill digest missing"},
		"no size":    {func(a *Announcement) { a.Size = model.SizeUnknown }, "size must be"},
		"long hint":  {func(a *Announcement) { a.Hint = "…12345" }, "hint longer"},
		"legacy":     {func(a *Announcement) { a.Verifier = privacy.Digest{2} }, "legacy_codes"},
	} {
		a := ok
		tc.mod(&a)
		if err := a.Validate(false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	legacy := ok
	legacy.Verifier = privacy.Digest{2}
	if err := legacy.Validate(false); !errors.Is(err, ErrLegacyCode) {
		t.Fatalf("scheme-1 verifier without legacy_codes: %v", err)
	}
	if err := legacy.Validate(true); err != nil {
		t.Fatalf("scheme-1 verifier with legacy_codes: %v", err)
	}
}

// TestReannouncementKeepsCodes: a re-announcement without verifiers (a size change)
// keeps the codes and the compartment of the parcel it updates; a scheme-2 code
// verifier replaces a scheme-1 one.
func TestReannouncementKeepsCodes(t *testing.T) {
	keep := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	old := &model.Parcel{ID: "p-1", Epoch: 4, Verifier: privacy.Digest{9}, QRVerifier: privacy.Digest{8},
		Compartment: 3, Generation: 2, Courier: "c-1", State: model.StateAnnounced}
	a := Announcement{ID: "p-1", Waybill: privacy.Digest{1}, Size: model.SizeL}
	p, err := a.Parcel(old, 4, privacy.Digest{7}, keep, tagSealer{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Verifier != old.Verifier || p.QRVerifier != old.QRVerifier || p.Compartment != 3 || p.Size != model.SizeL ||
		p.KeepUntil != keep || !p.Announced {
		t.Fatalf("re-announced: %+v", p)
	}
	a.Code = privacy.Digest{5}
	p, err = a.Parcel(old, 4, privacy.Digest{7}, keep, tagSealer{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Verifier.IsZero() || p.CodeVerifier[31] != 4 || p.CodeVerifier[0] != 5 {
		t.Fatalf("scheme-2 code: verifier %x, code verifier %x", p.Verifier, p.CodeVerifier)
	}
}
