package expiry

import (
	"math"
	"time"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/store"
)

// Rebase moves by the deadlines of the parcels written at or after from (the first
// provisional reading of this run, clock.Trust.TakeCorrection) and still waiting for
// them, and returns how many moved: the time became trusted by moving the station's
// clock forward by, and deadlines counted from its provisional readings would fall
// that much early. A record written before the time was lost whose Updated is later
// than from (a saved clock behind the last trusted time) moves too: it falls late by at
// most by, never early. Runs once per such correction, in transitions of at most
// MaxPerTick records.
func Rebase(s Station, from time.Time, by time.Duration) (moved int, err error) {
	end := time.Unix(0, math.MaxInt64)
	for _, timer := range []store.Timer{store.TimerExpiry, store.TimerKeep, store.TimerPurge} {
		before, err := s.Due(timer, from, math.MaxInt)
		if err != nil {
			return moved, err
		}
		rows, err := s.Due(timer, end, math.MaxInt)
		if err != nil {
			return moved, err
		}
		rows = rows[min(len(before), len(rows)):] // in the index's order: those after from
		for len(rows) > 0 {
			chunk := rows[:min(len(rows), MaxPerTick)]
			rows = rows[len(chunk):]
			if err := s.Update(func(t Tx) error {
				for _, row := range chunk {
					p, err := t.Parcel(model.ParcelID(row.Parcel))
					if err != nil {
						continue // the timer pass deals with unreadable records
					}
					np := *p
					at := deadline(&np, timer)
					if at == nil || at.IsZero() || !at.After(from) || p.Updated.Before(from) {
						continue
					}
					*at = at.Add(by)
					if err := t.PutParcel(p, &np); err != nil {
						return err
					}
					moved++
				}
				return nil
			}); err != nil {
				return moved, err
			}
		}
	}
	return moved, nil
}

// deadline returns p's deadline that timer's index files it by, nil when p is not in
// the state that timer waits on.
func deadline(p *model.Parcel, timer store.Timer) *time.Time {
	switch {
	case timer == store.TimerExpiry && p.State == model.StateDeposited:
		return &p.ExpiresAt
	case timer == store.TimerKeep && p.State == model.StateAnnounced:
		return &p.KeepUntil
	case timer == store.TimerPurge:
		return &p.PurgeAt
	}
	return nil
}
