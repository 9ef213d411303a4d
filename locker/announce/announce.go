// Package announce is what the cloud says of a parcel: before it arrives, the rules an
// announcement obeys (Validate), the parcel record it makes or updates (Parcel, Apply),
// and the verifiers a pickup code or QR is later checked against (Verifiers), sealed
// under the parcel's epoch key; later, new verifiers, a cancel or a recall
// (SetVerifiers, Cancel, Recall). Everything it receives is a keyed digest computed in the
// cloud (docs/privacy.md), never a tracking number or a code.
//
// It holds no state: a batch is applied in one transition of the station (Apply, over
// Tx), which package locker opens and commits.
package announce

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/policy"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// Announcement is the cloud telling the locker a parcel is coming.
type Announcement struct {
	ID       model.ParcelID
	Waybill  privacy.Digest // HMAC(waybill key, canonical tracking number)
	Verifier privacy.Digest // scheme 1, HMAC(pickup-code key, code): only with the policy's legacy_codes; zero: none
	Verifiers
	Size  model.Size
	Hint  string    // masked hint, at most 4 characters of the number after an ellipsis
	Until time.Time // drop the announcement if not deposited by then; zero: policy default
}

// Verifiers are the scheme-2 verifiers the cloud computes for a parcel (ADR 0046);
// a zero one is absent.
type Verifiers struct {
	Code privacy.Digest // HMAC(pickup-code-2 key, code and the phone's last four)
	QR   privacy.Digest // HMAC(pickup-qr key, the QR's secret)
}

// ErrConflict is returned when an announcement reuses a waybill digest held by another
// parcel id.
var ErrConflict = errors.New("locker: waybill already announced under another parcel id")

// ErrLegacyCode refuses a scheme-1 verifier (a code alone) while the policy's
// legacy_codes is not set.
var ErrLegacyCode = errors.New("locker: scheme-1 code verifiers need the policy's legacy_codes")

// Validate reports what makes a unfit to apply; legacy says whether the policy's
// legacy_codes accepts a scheme-1 verifier.
func (a Announcement) Validate(legacy bool) error {
	switch {
	case a.ID == "" || len(a.ID) > 64 || !utf8.ValidString(string(a.ID)):
		return errors.New("locker: announcement: parcel id must be 1..64 bytes of UTF-8")
	case a.Waybill.IsZero():
		return fmt.Errorf("locker: announcement %s: waybill digest missing", a.ID)
	case a.Size < model.SizeS || a.Size > model.SizeXL:
		return fmt.Errorf("locker: announcement %s: size must be S, M, L or XL", a.ID)
	case !a.Verifier.IsZero() && !legacy:
		return fmt.Errorf("%w (announcement %s)", ErrLegacyCode, a.ID)
	case utf8.RuneCountInString(a.Hint) > 5:
		return fmt.Errorf("locker: announcement %s: hint longer than an ellipsis and 4 characters", a.ID)
	}
	return nil
}

// Sealer seals a digest under an epoch's key (lookup.Index).
type Sealer interface {
	Seal(epoch uint32, d privacy.Digest) (privacy.Digest, error)
}

// Parcel returns the waiting parcel a makes of old (nil when there is none yet), in
// epoch e, its waybill digest sealed as wb, kept until a.Until or else keepUntil. A
// parcel placed in a compartment by a deposit under way stays there; a
// re-announcement without a verifier keeps the codes set before.
func (a Announcement) Parcel(old *model.Parcel, e uint32, wb privacy.Digest, keepUntil time.Time, x Sealer) (*model.Parcel, error) {
	p := &model.Parcel{ID: a.ID, Epoch: e, Waybill: wb, Hint: a.Hint, Size: a.Size,
		State: model.StateAnnounced, Announced: true}
	if old != nil {
		p.Compartment, p.Generation, p.Courier = old.Compartment, old.Generation, old.Courier
		// Absent means "not known here", never "erase": the codes set before, by an
		// earlier announcement or set-verifier, stay.
		p.Verifier, p.CodeVerifier, p.QRVerifier = old.Verifier, old.CodeVerifier, old.QRVerifier
	}
	if err := a.Verifiers.Seal(p, a.Verifier, x); err != nil {
		return nil, err
	}
	p.KeepUntil = a.Until
	if p.KeepUntil.IsZero() {
		p.KeepUntil = keepUntil
	}
	return p, nil
}

// Seal seals into p those of v and legacy (a scheme-1 verifier) that are present, under
// p's epoch key. A scheme-2 code verifier replaces the scheme-1 one: the recipient has
// been sent the new form.
func (v Verifiers) Seal(p *model.Parcel, legacy privacy.Digest, x Sealer) error {
	var err error
	if !legacy.IsZero() {
		if p.Verifier, err = x.Seal(p.Epoch, legacy); err != nil {
			return err
		}
	}
	if !v.Code.IsZero() {
		if p.CodeVerifier, err = x.Seal(p.Epoch, v.Code); err != nil {
			return err
		}
		p.Verifier = privacy.Digest{}
	}
	if !v.QR.IsZero() {
		if p.QRVerifier, err = x.Seal(p.Epoch, v.QR); err != nil {
			return err
		}
	}
	return nil
}

// Tx is what the cloud's word on a parcel needs of the station's transition: its time
// and policy, the parcel records, and the events.
type Tx interface {
	Now() time.Time
	Policy() *policy.Policy
	Parcel(id model.ParcelID) (*model.Parcel, error)
	PutParcel(old, p *model.Parcel) error
	Emit(e model.Event) error
}

// Index is what applying announcements needs of the parcel index: sealing, and the
// parcel a waybill digest names in the live epochs (store.ErrUnknownParcel: none).
type Index interface {
	Sealer
	ByWaybill(d privacy.Digest) (*model.Parcel, error)
}

// Apply applies batch in t, new parcels in epoch e. Re-announcing a parcel that is
// still waiting updates its size, verifiers and deadline (announcements are
// idempotent); a parcel already deposited or gone is left alone. It returns one error
// per announcement (nil for applied), in order, and the number applied.
func Apply(t Tx, x Index, batch []Announcement, e uint32) (results []error, applied int, err error) {
	results = make([]error, len(batch))
	pol := t.Policy()
	for i, a := range batch {
		if err := a.Validate(pol.LegacyCodes); err != nil {
			results[i] = err
			continue
		}
		old, err := t.Parcel(a.ID)
		if err != nil && !errors.Is(err, store.ErrUnknownParcel) {
			return nil, 0, err
		}
		if old != nil && old.State != model.StateAnnounced {
			continue // already deposited or gone: a late duplicate
		}
		pe := e
		if old != nil {
			pe = old.Epoch
		}
		wb, err := x.Seal(pe, a.Waybill)
		if err != nil {
			return nil, 0, err
		}
		if other, err := x.ByWaybill(a.Waybill); err == nil && other.ID != a.ID {
			results[i] = fmt.Errorf("%w (%s)", ErrConflict, a.ID)
			continue
		}
		p, err := a.Parcel(old, pe, wb, t.Now().Add(pol.AnnouncedKeep), x)
		if err != nil {
			return nil, 0, err
		}
		if err := t.PutParcel(old, p); err != nil {
			return nil, 0, err
		}
		applied++
	}
	return results, applied, nil
}
