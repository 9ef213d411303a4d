package door

import (
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
)

// The starts of an operation: what a deposit, a pickup code, a courier's cancel or
// retrieval, an operator's command and a staffed handover do to a compartment, before
// (or instead of) its door's unlock.

// Deposit reserves c for parcel p, deposited by courier in session: a shelf takes it
// at once (deposited); at a door the deposit waits for the door's closing
// (Changed). d is the parcel's waybill digest, which the cloud matches a parcel it did
// not announce by. It returns the slot to send the courier to.
func Deposit(t Tx, c *model.Compartment, p *model.Parcel, courier, session string, d privacy.Digest) (model.Slot, error) {
	var old *model.Parcel
	if p.Announced {
		old = p
	}
	np := *p
	c.Generation++
	c.Parcels = append(c.Parcels, np.ID)
	np.Compartment, np.Generation, np.Courier = c.ID, c.Generation, courier
	var waybill *privacy.Digest
	if !np.Announced {
		waybill = &d
	}
	if c.Kind == model.KindShelf {
		np.State, np.ExpiresAt = model.StateDeposited, t.Now().Add(t.Policy().Retention)
	} else {
		c.Op, c.OpParcel, c.OpSession, c.OpSince, c.OpActor = model.OpDeposit, np.ID, session, t.Now(), courier
		if waybill != nil { // kept, sealed, for the deposited event when the door closes
			var err error
			if c.OpWaybill, err = t.SealWaybill(np.Epoch, d); err != nil {
				return model.Slot{}, err
			}
		}
	}
	if err := t.PutParcel(old, &np); err != nil {
		return model.Slot{}, err
	}
	if err := t.Emit(model.Event{Type: model.EvReserved, Parcel: np.ID, Compartment: c.ID, Generation: c.Generation,
		Actor: courier, Op: model.OpDeposit, Reason: "deposit"}); err != nil {
		return model.Slot{}, err
	}
	if c.Kind == model.KindShelf {
		if err := t.Emit(model.Event{Type: model.EvDeposited, Parcel: np.ID, Compartment: c.ID, Generation: c.Generation,
			Actor: courier, State: model.StateDeposited, Waybill: waybill}); err != nil {
			return model.Slot{}, err
		}
	}
	return model.SlotOf(c, &np), nil
}

// Claim is what a pickup code does at the compartment holding one of its parcels.
type Claim int

// Claims.
const (
	Shelved  Claim = iota // on a shelf: staff hand it over on a scan of the parcel
	Opening               // the same code again while its door is open for it
	Refused               // the door is busy with another operation or out of service
	Reserved              // the door is reserved for the pickup: unlock it
)

// Pickup claims c, which holds deposited parcel p, for a recipient's pickup. A
// faulted door does not open, unless the fault is a pickup of p that a restart left
// unverified (ADR 0034); a disabled one still gives back what it holds.
func Pickup(t Tx, c *model.Compartment, p *model.Parcel) (Claim, error) {
	switch {
	case c.Kind == model.KindShelf:
		return Shelved, nil
	case c.Op == model.OpPickup && c.OpParcel == p.ID:
		return Opening, nil
	case c.Op != model.OpNone || (c.Fault != "" && !c.RetryablePickup(p.ID)):
		return Refused, nil
	}
	c.Op, c.OpParcel, c.OpSince, c.OpActor = model.OpPickup, p.ID, t.Now(), model.ActorRecipient
	c.OpDoorSeen = c.DoorOpen // already open (forced, ajar): its closing ends the pickup
	return Reserved, t.Emit(model.Event{Type: model.EvReserved, Parcel: p.ID, Compartment: c.ID,
		Generation: c.Generation, Actor: model.ActorRecipient, Op: model.OpPickup, Reason: "pickup"})
}

// Claims are what one code entry claims (Pickup, for each of its parcels): the
// entry's answer (the slots opened or shown, and those refused), the door slots to
// unlock and the shelf parcels to hand over.
type Claims struct {
	model.Pickup
	Pulses  []model.Slot
	Shelved []model.ParcelID
}

// PickupAll claims, for one code entry, the compartments holding those of parcels that
// are deposited there; none claimed (false) means the code opens nothing here: a
// parcel announced but not yet here, or expired, is not opened by it.
func PickupAll(t Tx, parcels []*model.Parcel) (Claims, bool, error) {
	var cl Claims
	for _, p := range parcels {
		if p.State != model.StateDeposited || p.Compartment == 0 {
			continue
		}
		c := t.Comp(p.Compartment)
		if c == nil {
			continue
		}
		slot := model.SlotOf(c, p)
		claim, err := Pickup(t, c, p)
		if err != nil {
			return Claims{}, false, err
		}
		switch claim {
		case Shelved:
			cl.Shelved = append(cl.Shelved, p.ID)
		case Refused:
			cl.Failed = append(cl.Failed, slot)
			continue
		case Reserved:
			cl.Pulses = append(cl.Pulses, slot)
		}
		cl.Slots = append(cl.Slots, slot)
	}
	return cl, len(cl.Slots) > 0 || len(cl.Failed) > 0, nil
}

// Cancel undoes courier's deposit of parcel pid at c. A shelf's, or a door's that never
// opened, is released at once; a door standing open frees c when it closes; a deposit
// already confirmed reopens the door (pulse), and its closing frees c. ErrBusy when c
// is busy with another operation.
func Cancel(t Tx, c *model.Compartment, pid model.ParcelID, courier string) (pulse bool, err error) {
	switch {
	case c.Kind == model.KindShelf:
		return false, Release(t, c, pid, "cancelled by courier")
	case c.Op == model.OpDeposit && c.OpParcel == pid && !c.OpDoorSeen:
		c.ClearOp() // the door never opened: nothing went in
		return false, Release(t, c, pid, "cancelled by courier")
	case c.Op == model.OpDeposit && c.OpParcel == pid:
		c.Op = model.OpCancel // door open now: closing it frees the compartment
		return false, nil
	case c.Op == model.OpNone:
		c.Op, c.OpParcel, c.OpSince, c.OpActor, c.OpDoorSeen = model.OpCancel, pid, t.Now(), courier, false
		return true, t.Emit(model.Event{Type: model.EvReserved, Parcel: pid, Compartment: c.ID,
			Generation: c.Generation, Actor: courier, Op: model.OpCancel, Reason: "cancel"})
	}
	return false, ErrBusy
}

// Operator starts an operator's opening of c on a cloud command (reason carries the
// command, model.CommandReason): no parcel moves, and its door events name the command.
func Operator(t Tx, c *model.Compartment, operator, reason string) error {
	if c.Op != model.OpNone {
		return ErrBusy
	}
	c.Op, c.OpSince, c.OpActor = model.OpOperator, t.Now(), operator
	c.OpDoorSeen = c.DoorOpen // already open: its closing ends the operation
	c.OpCommand = model.Event{Reason: reason}.CommandID()
	return t.Emit(model.Event{Type: model.EvReserved, Compartment: c.ID, Generation: c.Generation, Actor: operator,
		Op: model.OpOperator, Reason: "operator: " + reason})
}

// Retrieve starts a courier's retrieval of p, expired or recalled, from c: a shelf
// hands it over at once (Shelved: retrieved); a door is reserved for the courier
// (Reserved: unlock it), whose closing completes the retrieval, unless it is busy or
// faulted (Refused). It returns the slot to send the courier to.
func Retrieve(t Tx, c *model.Compartment, p *model.Parcel, courier string) (model.Slot, Claim, error) {
	if c.Kind == model.KindShelf {
		np := *p
		np.State, np.PurgeAt, np.Compartment = model.StateRetrieved, t.Now().Add(t.Policy().PurgeAfter), 0
		c.RemoveParcel(p.ID)
		c.Generation++
		if err := t.PutParcel(p, &np); err != nil {
			return model.Slot{}, Refused, err
		}
		return model.SlotOf(c, p), Shelved, t.Emit(model.Event{Type: model.EvRetrieved, Parcel: p.ID, Compartment: c.ID,
			Generation: c.Generation, Actor: courier, State: model.StateRetrieved})
	}
	if c.Op != model.OpNone || c.Fault != "" {
		return model.Slot{}, Refused, nil
	}
	c.Op, c.OpParcel, c.OpSince, c.OpActor = model.OpRetrieve, p.ID, t.Now(), courier
	c.OpDoorSeen = c.DoorOpen // already open: its closing ends the retrieval
	return model.SlotOf(c, p), Reserved, t.Emit(model.Event{Type: model.EvReserved, Parcel: p.ID, Compartment: c.ID,
		Generation: c.Generation, Actor: courier, Op: model.OpRetrieve, Reason: "retrieve"})
}

// HandOver completes the pickup of p from shelf c, handed over by staff once they
// scanned it (a Shelved claim's end), and returns its slot.
func HandOver(t Tx, c *model.Compartment, p *model.Parcel) (model.Slot, error) {
	np := *p
	np.State, np.PurgeAt, np.Compartment = model.StatePickedUp, t.Now().Add(t.Policy().PurgeAfter), 0
	c.RemoveParcel(p.ID)
	c.Generation++
	if err := t.PutParcel(p, &np); err != nil {
		return model.Slot{}, err
	}
	return model.SlotOf(c, p), t.Emit(model.Event{Type: model.EvPickedUp, Parcel: p.ID, Compartment: c.ID,
		Generation: c.Generation, Actor: model.ActorStaff, State: model.StatePickedUp})
}

// HandOverScanned completes, at a staffed station, the handover of the one of pids
// (a code entry's shelf parcels) that is still deposited and matches the scanned
// parcel; when none does it raises the wrong-parcel alarm (waiting: the handovers
// waiting) and reports false.
func HandOverScanned(t Tx, pids []model.ParcelID, match func(*model.Parcel) bool, waiting int) (model.Slot, bool, error) {
	for _, pid := range pids {
		p, err := t.Parcel(pid)
		if err != nil || p.State != model.StateDeposited || !match(p) {
			continue
		}
		sl, err := HandOver(t, t.Comp(p.Compartment), p)
		return sl, true, err
	}
	return model.Slot{}, false, t.Emit(model.Event{Type: model.EvWrongParcel, Actor: model.ActorStaff, Count: waiting,
		Reason: "scanned parcel is not one of this code's"})
}
