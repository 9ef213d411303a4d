// Package session keeps what the station holds in RAM only, between one person's
// steps: courier sessions and the slots offered in each (Sessions), staffed handovers
// awaiting staff's scan of a parcel (Handovers), the recent scans that turn a repeat
// into a refusal (Scans), and the door changes held back while an unlock is under way
// (Holds). A restart forgets all of it: couriers log in again, a recipient enters the
// code again, and no durable write is spent on any of it.
//
// Nothing here locks: package locker holds its lock around every call and decides
// what each step means for the doors and the store.
package session

import (
	"crypto/rand"
	"slices"
	"time"

	"github.com/lockerd/lockerd/locker/courier"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
)

// Session is a courier's login.
type Session struct {
	ID         string
	Courier    courier.Courier
	LastActive time.Time
	Offers     []model.Slot // the slots offered to deposit in, most recent last
}

// Offer adds sl to the slots offered in se.
func (se *Session) Offer(sl model.Slot) { se.Offers = append(se.Offers, sl) }

// Sessions are the open courier sessions by id.
type Sessions map[string]*Session

// Open opens session id for courier c at now.
func (m Sessions) Open(id string, c courier.Courier, now time.Time) {
	m[id] = &Session{ID: id, Courier: c, LastActive: now}
}

// Active returns session id and marks it active at now, or false when there is none
// or it was idle longer than idle (and is then ended).
func (m Sessions) Active(id string, now time.Time, idle time.Duration) (*Session, bool) {
	se, ok := m[id]
	if !ok {
		return nil, false
	}
	if now.Sub(se.LastActive) > idle {
		delete(m, id)
		return nil, false
	}
	se.LastActive = now
	return se, true
}

// EndCourier ends every session of courier id (a revoked courier).
func (m Sessions) EndCourier(id string) {
	for sid, se := range m {
		if se.Courier.ID == id {
			delete(m, sid)
		}
	}
}

// Expire ends the sessions idle longer than idle at now.
func (m Sessions) Expire(now time.Time, idle time.Duration) {
	for id, se := range m {
		if now.Sub(se.LastActive) > idle {
			delete(m, id)
		}
	}
}

// Handover is the shelf parcels of one code entry awaiting staff's scans.
type Handover struct {
	Parcels []model.ParcelID
	Until   time.Time
}

// Handovers are the handovers waiting, by the id the code entry's answer names
// (model.Pickup.Handover).
type Handovers map[string]*Handover

// Start records a handover of parcels, waiting until until, and returns its id: an
// unguessable one, since whoever holds it completes the pickup with a scan.
func (m Handovers) Start(parcels []model.ParcelID, until time.Time) string {
	id := rand.Text()
	m[id] = &Handover{Parcels: parcels, Until: until}
	return id
}

// Waiting returns handover id if it still waits at now, or nil.
func (m Handovers) Waiting(id string, now time.Time) *Handover {
	h := m[id]
	if h == nil || now.After(h.Until) {
		return nil
	}
	return h
}

// Done removes parcel pid, handed over, from handover id, which ends once it has no
// parcel left.
func (m Handovers) Done(id string, pid model.ParcelID) {
	h := m[id]
	if h == nil {
		return
	}
	h.Parcels = slices.DeleteFunc(h.Parcels, func(p model.ParcelID) bool { return p == pid })
	if len(h.Parcels) == 0 {
		delete(m, id)
	}
}

// Expire drops the handovers that lapsed by now.
func (m Handovers) Expire(now time.Time) {
	for id, h := range m {
		if now.After(h.Until) {
			delete(m, id)
		}
	}
}

// Scans are the waybill digests scanned recently, with when.
type Scans map[privacy.Digest]time.Time

// Recent reports whether d was scanned less than window before now.
func (m Scans) Recent(d privacy.Digest, now time.Time, window time.Duration) bool {
	last, ok := m[d]
	return ok && now.Sub(last) < window
}

// Expire forgets the scans window or more before now.
func (m Scans) Expire(now time.Time, window time.Duration) {
	for d, at := range m {
		if now.Sub(at) >= window {
			delete(m, d)
		}
	}
}
