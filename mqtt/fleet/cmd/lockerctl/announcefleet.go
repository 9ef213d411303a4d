package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// announceFleet announces the parcels of a CSV file with a locker column to the
// lockers it names: every row is read and digested under its locker's keys before
// anything is sent (a bad row stops everything, as for one locker); then each locker
// gets its batches in turn, up to parallel lockers at once, and its outcome is printed
// (announced, refused) with a progress bar over all parcels and a summary.
func (e *env) announceFleet(file string, batch, parallel int) error {
	if batch < 1 || batch > protocol.MaxAnnounceBatch {
		return fmt.Errorf("%w: --batch must be 1..%d", errUsage, protocol.MaxAnnounceBatch)
	}
	if parallel < 1 {
		return fmt.Errorf("%w: --parallel must be at least 1", errUsage)
	}
	in := e.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	keys := map[string]*fleet.Keys{} // derived once per locker, not per row
	rows, err := readParcelRows(in, true, func(l string) (*fleet.Keys, error) {
		if k, ok := keys[l]; ok {
			return k, nil
		}
		k, err := e.cfg.keys(l)
		if err != nil {
			return nil, err
		}
		keys[l] = k
		return k, nil
	})
	if err != nil {
		return err
	}
	var ids []string
	parcels := map[string][]protocol.AnnouncedParcel{}
	for _, r := range rows {
		if _, ok := parcels[r.locker]; !ok {
			ids = append(ids, r.locker)
		}
		parcels[r.locker] = append(parcels[r.locker], r.parcel)
	}
	bodies := map[string][]*protocol.AnnounceBody{}
	for _, id := range ids {
		if bodies[id], err = announceBodies(parcels[id], batch); err != nil {
			return fmt.Errorf("%w (locker %s)", err, id)
		}
	}
	return e.eachLocker(ids, parallel, "announce", len(rows), func(id string, step func(int)) lockerOutcome {
		return e.announceOne(id, bodies[id], step)
	})
}

// announceOne sends one locker's batches in turn; the first that is not sent or not
// answered stops that locker (the rest are not sent blind).
func (e *env) announceOne(id string, bodies []*protocol.AnnounceBody, step func(int)) lockerOutcome {
	o := lockerOutcome{Locker: id, Outcome: outcomeDone}
	var announced int
	var problems []string
	for i, b := range bodies {
		r, err := e.send(id, b)
		step(len(b.Parcels))
		switch {
		case errors.Is(err, errNeverConnected):
			o.Outcome, o.Error = outcomeNever, strings.TrimPrefix(err.Error(), errNotSent.Error()+": ")
			return o
		case errors.Is(err, errNotSent):
			o.Outcome, o.Error = outcomeOffline, strings.TrimPrefix(err.Error(), errNotSent.Error()+": ")
			return o
		case r == nil && errors.Is(err, errUnknown):
			o.Outcome, o.Error = outcomeNoReply, fmt.Sprintf("%v (command %d of %d; the rest not sent)", err, i+1, len(bodies))
			o.Announced = &announced
			return o
		case r == nil:
			o.Outcome, o.Error = outcomeError, err.Error()
			return o
		case r.Status == protocol.StatusDone:
			n := len(b.Parcels)
			if res, derr := protocol.DecodeResult(protocol.CmdAnnounce, r.Body); derr == nil {
				for _, it := range res.(*protocol.AnnounceResult).Items {
					if it.Status != protocol.StatusDone {
						n--
						o.Refused = append(o.Refused, it)
					}
				}
			}
			announced += n
		default:
			problems = append(problems, fmt.Sprintf("command %d of %d: %s %s", i+1, len(bodies), r.Status, r.Reason))
		}
	}
	o.Announced = &announced
	if len(o.Refused) > 0 || len(problems) > 0 {
		o.Outcome = outcomeRefused
		o.Error = strings.Join(append([]string{fmt.Sprintf("%d parcels refused", len(o.Refused))}, problems...), "; ")
	}
	return o
}
