package locker

import (
	"github.com/lockerd/lockerd/locker/lookup"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// Lookups by sealed digest are locker/lookup's; these name the station's live epochs.

func readParcel(t store.Tx, id ParcelID) (*Parcel, error) { return lookup.ReadParcel(t, id) }

// findByWaybill finds the parcel whose waybill digest is d (ErrUnknownParcel: none).
func (s *Station) findByWaybill(t store.Tx, d privacy.Digest) (*Parcel, error) {
	return s.index.ByWaybill(t, d, s.liveEpochs())
}

// openOpWaybill recovers the waybill digest sealed in a compartment's record.
func (s *Station) openOpWaybill(sealed []byte) *privacy.Digest { return s.index.OpenWaybill(sealed) }
