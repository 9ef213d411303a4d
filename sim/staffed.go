package sim

import (
	"context"
	"errors"
	"fmt"

	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
)

// RunStaffed plays a staffed pickup point: parcels go onto shelves, a recipient's code
// shows the shelf, and the handover completes only when staff scan the right parcel.
func (s *Scenario) RunStaffed(ctx context.Context) error {
	cl := s.Station.Client()
	defer cl.Close()
	ident, err := cl.Identity(ctx)
	if err != nil {
		return err
	}
	if err := s.Cloud.Enrol(ident.LockerID, ident.Public); err != nil {
		return err
	}
	badge, pin := privacy.NewBadgeToken(), RandomCode(4)
	req, err := s.Cloud.CourierRequest(ident.LockerID, "courier-9", badge, pin, locker.Rights{Deposit: true})
	if err != nil {
		return err
	}
	if err := cl.UpsertCourier(ctx, req); err != nil {
		return err
	}
	carol, dave := s.Cloud.NewParcel("XL"), s.Cloud.NewParcel("XL")
	var batch []control.Announcement
	for _, p := range []Parcel{carol, dave} {
		a, err := s.Cloud.Announcement(ident.LockerID, p)
		if err != nil {
			return err
		}
		batch = append(batch, a)
	}
	if _, err := cl.Announce(ctx, batch); err != nil {
		return err
	}
	s.text("Carol", "your parcel %s waits at %s, code %s", mask(carol.Tracking), ident.LockerID, carol.Code)
	sid, err := cl.Login(ctx, badge, pin)
	if err != nil {
		return err
	}
	for _, p := range []Parcel{carol, dave} {
		slot, err := cl.Scan(ctx, sid, p.Tracking, "")
		if err != nil {
			return fmt.Errorf("sim: shelve %s: %w", mask(p.Tracking), err)
		}
		s.say("courier", "scanned %s -> put it on %s", mask(p.Tracking), slot.Label)
	}
	res, err := cl.PickupCode(ctx, carol.Code, carol.Phone)
	if err != nil {
		return err
	}
	for _, sl := range res.Slots {
		s.say("screen", "Carol's parcel %s is on %s", sl.Hint, sl.Label)
	}
	if _, err := cl.Handover(ctx, res.Handover, dave.Tracking); errors.Is(err, locker.ErrWrongParcel) {
		s.say("staff", "scanned the parcel beside it (%s): refused, %q", mask(dave.Tracking), err.Error())
	} else {
		return fmt.Errorf("sim: a wrong handover was not refused: %v", err)
	}
	slot, err := cl.Handover(ctx, res.Handover, carol.Tracking)
	if err != nil {
		return err
	}
	s.say("staff", "scanned %s: matches, handed to Carol (%s picked up)", mask(carol.Tracking), slot.Parcel)
	return nil
}
