package announce

import (
	"errors"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/policy"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// memTx is a transition over parcels in memory, with an index by (unsealed) waybill.
type memTx struct {
	now     time.Time
	pol     policy.Policy
	parcels map[model.ParcelID]*model.Parcel
	events  []model.Event
	tagSealer
}

func (t *memTx) Now() time.Time         { return t.now }
func (t *memTx) Policy() *policy.Policy { return &t.pol }
func (t *memTx) Parcel(id model.ParcelID) (*model.Parcel, error) {
	if p, ok := t.parcels[id]; ok {
		c := *p
		return &c, nil
	}
	return nil, store.ErrUnknownParcel
}
func (t *memTx) PutParcel(_, p *model.Parcel) error { t.parcels[p.ID] = p; return nil }
func (t *memTx) Emit(e model.Event) error           { t.events = append(t.events, e); return nil }
func (t *memTx) ByWaybill(d privacy.Digest) (*model.Parcel, error) {
	for _, p := range t.parcels {
		if w := p.Waybill; [31]byte(w[:31]) == [31]byte(d[:31]) {
			return p, nil
		}
	}
	return nil, store.ErrUnknownParcel
}

// TestApply: a new parcel is made in the current epoch, a waiting one keeps its own,
// a deposited one is left alone, a waybill held by another id is refused, and an
// invalid announcement fails alone.
func TestApply(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tx := &memTx{now: now, pol: policy.Default(), parcels: map[model.ParcelID]*model.Parcel{
		"waiting": {ID: "waiting", Epoch: 3, State: model.StateAnnounced, Waybill: privacy.Digest{2}, Size: model.SizeS},
		"here":    {ID: "here", Epoch: 3, State: model.StateDeposited, Waybill: privacy.Digest{3}, Size: model.SizeS},
	}}
	batch := []Announcement{
		{ID: "new", Waybill: privacy.Digest{1}, Size: model.SizeM},
		{ID: "waiting", Waybill: privacy.Digest{2}, Size: model.SizeL},
		{ID: "here", Waybill: privacy.Digest{3}, Size: model.SizeL},
		{ID: "thief", Waybill: privacy.Digest{2}, Size: model.SizeS},
		{ID: "", Waybill: privacy.Digest{4}, Size: model.SizeS},
	}
	results, applied, err := Apply(tx, tx, batch, 7)
	if err != nil || applied != 2 {
		t.Fatalf("applied %d, err %v; want 2", applied, err)
	}
	for i, want := range []error{nil, nil, nil, ErrConflict} {
		if !errors.Is(results[i], want) || (want == nil) != (results[i] == nil) {
			t.Errorf("result %d: %v, want %v", i, results[i], want)
		}
	}
	if results[4] == nil {
		t.Error("an announcement without an id was applied")
	}
	if p := tx.parcels["new"]; p.Epoch != 7 || p.Waybill[31] != 7 || !p.KeepUntil.Equal(now.Add(tx.pol.AnnouncedKeep)) {
		t.Errorf("new parcel: epoch %d, sealed in %d, keep until %v", p.Epoch, p.Waybill[31], p.KeepUntil)
	}
	if p := tx.parcels["waiting"]; p.Epoch != 3 || p.Size != model.SizeL {
		t.Errorf("re-announced: epoch %d, size %v; want its own epoch 3, the new size", p.Epoch, p.Size)
	}
	if p := tx.parcels["here"]; p.Size != model.SizeS || p.State != model.StateDeposited {
		t.Errorf("deposited parcel changed by a late announcement: %+v", p)
	}
	if _, ok := tx.parcels["thief"]; ok {
		t.Error("a waybill held by another parcel was announced again")
	}
}

// TestCancelRecall: a waiting parcel is cancelled, one being deposited is busy, one in
// a compartment is recalled by either command, and a terminal one is left alone.
func TestCancelRecall(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tx := &memTx{now: now, pol: policy.Default()}
	for name, tc := range map[string]struct {
		p          model.Parcel
		cancel     model.ParcelState // "": no change
		cancelErr  error
		recall     model.ParcelState
		recallFail bool
	}{
		"waiting":    {model.Parcel{State: model.StateAnnounced}, model.StateCancelled, nil, "", true},
		"depositing": {model.Parcel{State: model.StateAnnounced, Compartment: 2}, "", model.ErrBusy, "", true},
		"deposited":  {model.Parcel{State: model.StateDeposited, Compartment: 2}, model.StateRecalled, nil, model.StateRecalled, false},
		"expired":    {model.Parcel{State: model.StateExpired, Compartment: 2}, model.StateRecalled, nil, model.StateRecalled, false},
		"picked up":  {model.Parcel{State: model.StatePickedUp}, "", nil, "", true},
	} {
		np, err := Cancel(tx, &tc.p, "r")
		if !errors.Is(err, tc.cancelErr) || (np == nil) != (tc.cancel == "") || (np != nil && np.State != tc.cancel) {
			t.Errorf("%s: cancel gave %+v, %v", name, np, err)
		}
		if np != nil && np.State == model.StateCancelled && !np.PurgeAt.Equal(now.Add(tx.pol.PurgeAfter)) {
			t.Errorf("%s: cancelled, purged at %v", name, np.PurgeAt)
		}
		np, err = Recall(tx, &tc.p, "r")
		if tc.recallFail != errors.Is(err, model.ErrState) || (np != nil && np.State != tc.recall) {
			t.Errorf("%s: recall gave %+v, %v", name, np, err)
		}
	}
}

// TestSetVerifiers: a legacy verifier needs legacy_codes; a parcel gone has no code.
func TestSetVerifiers(t *testing.T) {
	tx := &memTx{pol: policy.Default()}
	p := &model.Parcel{ID: "p", Epoch: 5, State: model.StateDeposited}
	if _, err := SetVerifiers(tx, tx, p, Verifiers{}, privacy.Digest{1}); !errors.Is(err, ErrLegacyCode) {
		t.Errorf("legacy without legacy_codes: %v", err)
	}
	np, err := SetVerifiers(tx, tx, p, Verifiers{QR: privacy.Digest{2}}, privacy.Digest{})
	if err != nil || np.QRVerifier[31] != 5 || len(tx.events) != 1 || tx.events[0].Type != model.EvVerifierSet {
		t.Errorf("QR set: %+v, %v, events %v", np, err, tx.events)
	}
	p.State = model.StatePickedUp
	if _, err := SetVerifiers(tx, tx, p, Verifiers{QR: privacy.Digest{2}}, privacy.Digest{}); !errors.Is(err, model.ErrState) {
		t.Errorf("picked up: %v", err)
	}
}
