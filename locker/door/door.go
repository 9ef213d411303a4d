// Package door is the state machine of the physical operation under way at a
// compartment (model.Op: a deposit, pickup, retrieval, cancel or an operator's
// opening): how the unlock's outcome, the sensed opening and closing of the door, a
// jam, a restart that finds the operation under way, and an operator's finding settle
// it, and which parcel transition and events each outcome records.
//
// It works inside one transition of the Station (Tx), on the transition's copy of a
// compartment, and holds nothing between calls: the Station keeps the lock, the door
// holds during an unlock, the sessions and the timers, and decides when each step
// runs (locker/doors.go, reconcile.go).
package door

import (
	"fmt"
	"slices"
	"time"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/policy"
	"github.com/lockerd/lockerd/locker/privacy"
)

// Tx is what the state machine needs of the station's transition: its time and
// policy, the transition's copy of a compartment, the parcel records, the events, and
// the sealing and opening of a waybill digest kept in a compartment's record.
type Tx interface {
	Now() time.Time
	Policy() *policy.Policy
	Comp(id model.CompartmentID) *model.Compartment
	Parcel(id model.ParcelID) (*model.Parcel, error)
	PutParcel(old, p *model.Parcel) error
	Emit(e model.Event) error
	OpenWaybill(sealed []byte) *privacy.Digest
	SealWaybill(epoch uint32, d privacy.Digest) ([]byte, error)
}

// ErrBusy refuses an operation at a compartment busy with another (model.ErrBusy).
var ErrBusy = model.ErrBusy

// opEvent is an event of type typ about c's operation, with c's facts.
func opEvent(typ model.EventType, c *model.Compartment, reason string) model.Event {
	return model.Event{Type: typ, Compartment: c.ID, Generation: c.Generation, Parcel: c.OpParcel,
		Op: c.Op, Command: c.OpCommand, Actor: c.OpActor, Reason: reason}
}

// Unlocked records that c's unlock went out (confirmed false: the driver sent it but
// could not confirm it, and the door sensor or the timeout settles the operation).
func Unlocked(t Tx, c *model.Compartment, confirmed bool) error {
	reason := string(c.Op)
	if !confirmed {
		reason += " (not confirmed)"
	}
	return t.Emit(opEvent(model.EvUnlocked, c, reason))
}

// UnlockFailed records that the driver could not pulse c's lock. The operation ends
// unless its door was seen open anyway (openedMeanwhile: by a previous pulse or by
// hand), which lets it run.
func UnlockFailed(t Tx, c *model.Compartment, openedMeanwhile bool) error {
	if err := t.Emit(opEvent(model.EvUnlockFailed, c, "driver error")); err != nil {
		return err
	}
	if c.OpDoorSeen || openedMeanwhile {
		return nil
	}
	return Abort(t, c, "unlock failed")
}

// Abort ends an operation whose door never opened: nothing went in or came out.
func Abort(t Tx, c *model.Compartment, reason string) error {
	op, parcel := c.Op, c.OpParcel
	c.ClearOp()
	if op == model.OpDeposit {
		return Release(t, c, parcel, reason)
	}
	return nil
}

// Changed records a sensed change of c's door: an opening without an operation is
// forced; a closing after the operation's door was seen open completes it.
func Changed(t Tx, c *model.Compartment, open bool) error {
	c.DoorOpen, c.DoorSince = open, t.Now()
	ev := opEvent(model.EvDoorOpened, c, string(c.Op))
	if open {
		if err := t.Emit(ev); err != nil {
			return err
		}
		if c.Op == model.OpNone {
			return t.Emit(model.Event{Type: model.EvForced, Compartment: c.ID, Generation: c.Generation,
				Reason: "door opened without a command"})
		}
		c.OpDoorSeen = true
		return nil
	}
	c.LeftOpenSet = false
	ev.Type = model.EvDoorClosed
	if err := t.Emit(ev); err != nil {
		return err
	}
	if c.Op == model.OpNone || !c.OpDoorSeen {
		return nil
	}
	return Complete(t, c)
}

// LeftOpen raises the alarm of c's door standing open since DoorSince (now is when the timer saw it), once per opening.
func LeftOpen(t Tx, c *model.Compartment, now time.Time) error {
	c.LeftOpenSet = true
	open := now.Sub(c.DoorSince).Round(time.Second)
	ev := opEvent(model.EvLeftOpen, c, fmt.Sprintf("open for %v", open))
	ev.Seconds = int64(open / time.Second)
	return t.Emit(ev)
}

// Complete finishes the operation at c: its door was seen open and is now closed.
func Complete(t Tx, c *model.Compartment) error {
	op, pid, actor, waybill := c.Op, c.OpParcel, c.OpActor, c.OpWaybill
	c.ClearOp()
	if op == model.OpPickup && c.RetryablePickup(pid) {
		c.ClearUnverified() // the recipient tried again and the door opened: settled
	}
	return Finish(t, c, op, pid, actor, waybill, "")
}

// Finish moves parcel pid as operation op's completion does, on behalf of actor:
// for a door that was seen open and shut (Complete), or for an operator who found
// what a restart left unverified (Resolve).
func Finish(t Tx, c *model.Compartment, op model.Op, pid model.ParcelID, actor string, waybill []byte, reason string) error {
	switch op {
	case model.OpOperator:
		return nil
	case model.OpCancel:
		if reason == "" {
			reason = "cancelled by courier"
		}
		return Release(t, c, pid, reason)
	}
	p, err := t.Parcel(pid)
	if err != nil {
		return err
	}
	np := *p
	ev := model.Event{Parcel: pid, Compartment: c.ID, Generation: c.Generation, Actor: actor, Reason: reason}
	now, pol := t.Now(), t.Policy()
	switch op {
	case model.OpDeposit:
		np.State, np.ExpiresAt = model.StateDeposited, now.Add(pol.Retention)
		ev.Type, ev.Waybill = model.EvDeposited, t.OpenWaybill(waybill)
	case model.OpPickup:
		np.State, np.PurgeAt = model.StatePickedUp, now.Add(pol.PurgeAfter)
		ev.Type = model.EvPickedUp
	case model.OpRetrieve:
		np.State, np.PurgeAt = model.StateRetrieved, now.Add(pol.PurgeAfter)
		ev.Type = model.EvRetrieved
	default:
		return fmt.Errorf("locker: compartment %d: unknown operation %q", c.ID, op)
	}
	if np.State.Terminal() {
		c.RemoveParcel(pid)
		c.Generation++
		np.Compartment = 0
	}
	ev.State = np.State
	if err := t.PutParcel(p, &np); err != nil {
		return err
	}
	return t.Emit(ev)
}

// Release takes a parcel out of c without a deposit: an announced parcel goes back
// to waiting for a deposit, an unannounced one is forgotten.
func Release(t Tx, c *model.Compartment, id model.ParcelID, reason string) error {
	p, err := t.Parcel(id)
	if err != nil {
		return err
	}
	c.RemoveParcel(id)
	c.Generation++
	np := *p
	np.Compartment, np.Generation, np.Courier = 0, 0, ""
	np.State, np.ExpiresAt = model.StateAnnounced, time.Time{}
	next := &np
	if !p.Announced {
		next = nil
	}
	if err := t.PutParcel(p, next); err != nil {
		return err
	}
	return t.Emit(model.Event{Type: model.EvDepositAborted, Parcel: id, Compartment: c.ID, Generation: c.Generation,
		Reason: reason, Actor: p.Courier})
}

// Jam handles c's door that did not open after its unlock: the compartment is marked
// faulted and an alarm raised. A deposit moves to the compartment alt returns for its
// parcel's size (the courier still at the locker with the parcel), or is released when
// there is none (nil); the slot of the door the deposit moved to is returned, zero
// when it did not move.
func Jam(t Tx, c *model.Compartment, alt func(model.Size) *model.Compartment) (model.Slot, error) {
	op, pid, sid, actor := c.Op, c.OpParcel, c.OpSession, c.OpActor
	if c.Fault != model.FaultUnverified { // an operator's look or a retried pickup jammed: it stays unverified
		c.Fault = "jammed"
	}
	if err := t.Emit(opEvent(model.EvJammed, c, string(op))); err != nil {
		return model.Slot{}, err
	}
	if op != model.OpDeposit {
		c.ClearOp()
		return model.Slot{}, nil
	}
	p, err := t.Parcel(pid)
	if err != nil {
		return model.Slot{}, err
	}
	next := alt(p.Size)
	if next == nil {
		c.ClearOp()
		return model.Slot{}, Release(t, c, pid, "door jammed")
	}
	waybill := c.OpWaybill
	c.ClearOp()
	c.RemoveParcel(pid)
	c.Generation++
	a := t.Comp(next.ID)
	a.Generation++
	a.Parcels = append(a.Parcels, pid)
	a.Op, a.OpParcel, a.OpSession, a.OpSince, a.OpActor, a.OpWaybill = model.OpDeposit, pid, sid, t.Now(), actor, waybill
	np := *p
	np.Compartment, np.Generation = a.ID, a.Generation
	if err := t.PutParcel(p, &np); err != nil {
		return model.Slot{}, err
	}
	return model.SlotOf(a, &np), t.Emit(model.Event{Type: model.EvReserved, Parcel: pid, Compartment: a.ID,
		Generation: a.Generation, Actor: actor, Op: model.OpDeposit, Reason: "deposit (re-offered after a jam)"})
}

// Outcomes of Reconcile besides model's ReconcileCompleted, ReconcileUnverified and
// ReconcileUndone, which the reconciled event carries; these are only counted.
const (
	Continued = "continued" // the door is open: its closing completes the operation
	None      = ""          // no operation was under way
)

// Reconcile settles c's stored operation against the sensed door state open, after a
// restart or power cut, and returns the outcome:
//
//   - door open now: the operation goes on; closing the door completes it;
//   - door closed, and it was seen open: it opened and closed while the station was
//     down, so the operation completes (a deposit is confirmed, a pickup done);
//   - door closed, never seen open: the outcome is unknown (the lock may have been
//     pulsed and the door opened and shut while the station was down). The
//     compartment is flagged FaultUnverified, with the operation and its parcel, until
//     someone looks (Resolve), and a reconciled event with outcome unverified says so.
//     A deposit is not undone, because a parcel that went in would then sit in a
//     compartment offered to the next courier: the parcel stays reserved in it. A
//     pickup, retrieval or cancel is not completed, because a parcel still inside
//     would be lost to its recipient: the parcel stays where it was, and a pickup's
//     code keeps opening the door for a recipient who did not get it (ADR 0034). Only
//     an operator's opening, which moves no parcel, is simply undone.
func Reconcile(t Tx, c *model.Compartment, open bool) (string, error) {
	wasOp, seen := c.Op, c.OpDoorSeen
	if open != c.DoorOpen {
		c.DoorOpen, c.DoorSince, c.LeftOpenSet = open, t.Now(), false
	}
	var outcome string
	switch {
	case wasOp == model.OpNone:
		return None, nil
	case open:
		c.OpDoorSeen = true
		return Continued, nil
	case seen:
		if err := Complete(t, c); err != nil {
			return None, err
		}
		outcome = model.ReconcileCompleted
	case wasOp == model.OpDeposit:
		waybill, pid := c.OpWaybill, c.OpParcel // the waybill: for the deposited event if an operator finds it there
		c.ClearOp()
		c.Fault, c.UnverifiedWaybill, c.UnverifiedOp, c.UnverifiedParcel = model.FaultUnverified, waybill, model.OpDeposit, pid
		outcome = model.ReconcileUnverified
	case model.TakesOut(wasOp):
		pid := c.OpParcel
		c.ClearOp()
		c.Fault, c.UnverifiedOp, c.UnverifiedParcel = model.FaultUnverified, wasOp, pid
		outcome = model.ReconcileUnverified
	default:
		if err := Abort(t, c, "restart: door never seen open"); err != nil {
			return None, err
		}
		outcome = model.ReconcileUndone
	}
	ev := model.Event{Type: model.EvReconciled, Compartment: c.ID, Generation: c.Generation, Op: wasOp, Outcome: outcome,
		Reason: fmt.Sprintf("%s after restart (door seen open: %v)", wasOp, seen)}
	if outcome == model.ReconcileUnverified {
		ev.Parcel = c.UnverifiedParcel // what the operator looks for
	}
	return outcome, t.Emit(ev)
}

// Resolve settles c, marked FaultUnverified, on an operator's finding: present says
// the parcel was found there.
//
//   - an unverified deposit: present confirms it (deposited); absent releases the
//     reservation (the parcel is announced again);
//   - an unverified pickup, retrieval or cancel: present keeps the parcel as it was
//     (its code opens the door again); absent completes the operation as its door's
//     closing would have (picked up, retrieved, or released to the courier).
func Resolve(t Tx, c *model.Compartment, present bool, operator, reason string) error {
	op, pid := c.UnverifiedOp, c.UnverifiedParcel
	waybill := t.OpenWaybill(c.UnverifiedWaybill)
	c.ClearUnverified()
	finding := "absent"
	if present {
		finding = "present"
	}
	if err := t.Emit(model.Event{Type: model.EvResolved, Compartment: c.ID, Generation: c.Generation, Actor: operator,
		Parcel: pid, Op: op, Reason: finding + "; " + reason}); err != nil {
		return err
	}
	if model.TakesOut(op) {
		return resolveTakeOut(t, c, op, pid, present, operator)
	}
	return resolveDeposit(t, c, present, operator, waybill)
}

// resolveTakeOut settles a pickup, retrieval or cancel a restart left unverified: a
// parcel found absent is taken out as the door's closing would have done; one found
// present stays as it was.
func resolveTakeOut(t Tx, c *model.Compartment, op model.Op, pid model.ParcelID, present bool, operator string) error {
	if present || !slices.Contains(c.Parcels, pid) {
		return nil // still there, or settled otherwise meanwhile (a retried pickup completed)
	}
	p, err := t.Parcel(pid)
	if err != nil {
		return err
	}
	if !p.State.InCompartment() {
		return nil
	}
	return Finish(t, c, op, pid, operator, nil, "resolved: not in the compartment")
}

// resolveDeposit settles a deposit a restart left unverified: each parcel still
// reserved in c (announced) becomes deposited if present, or is released.
func resolveDeposit(t Tx, c *model.Compartment, present bool, operator string, waybill *privacy.Digest) error {
	for _, pid := range append([]model.ParcelID(nil), c.Parcels...) {
		p, err := t.Parcel(pid)
		if err != nil {
			return err
		}
		if p.State != model.StateAnnounced {
			continue // parcels confirmed earlier stay
		}
		if !present {
			if err := Release(t, c, pid, "resolved: not in the compartment"); err != nil {
				return err
			}
			continue
		}
		np := *p
		np.State, np.ExpiresAt = model.StateDeposited, t.Now().Add(t.Policy().Retention)
		if err := t.PutParcel(p, &np); err != nil {
			return err
		}
		ev := model.Event{Type: model.EvDeposited, Parcel: pid, Compartment: c.ID, Generation: c.Generation,
			State: model.StateDeposited, Actor: operator, Reason: "resolved: found in the compartment"}
		if !p.Announced {
			ev.Waybill = waybill
		}
		if err := t.Emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// SetEnabled takes c out of service (no new parcels go in; those inside stay and can be
// picked up) or puts it back, which also clears a fault; one with an unverified
// operation must be resolved first (model.ErrState).
func SetEnabled(t Tx, c *model.Compartment, enabled bool, reason string) error {
	if enabled && c.Fault == model.FaultUnverified {
		return fmt.Errorf("%w: compartment %d has an unverified operation: resolve it first", model.ErrState, c.ID)
	}
	c.Disabled, c.DisabledReason = !enabled, reason
	ev := model.EvCompartmentDisabled
	if enabled {
		c.DisabledReason, c.Fault = "", ""
		ev = model.EvCompartmentEnabled
	}
	return t.Emit(model.Event{Type: ev, Compartment: c.ID, Generation: c.Generation, Reason: reason})
}
