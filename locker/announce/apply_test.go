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
