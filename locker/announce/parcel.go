package announce

import (
	"fmt"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
)

// What the cloud says of a parcel after its announcement: new verifiers, a cancel, a
// recall. Each returns the parcel's new record (nil: nothing to change) and records its
// event in t; package locker stores the record in the same transition.

// SetVerifiers sets or replaces the verifiers of p, waiting or deposited (a new code or
// QR sent to the recipient): those given replace the old, whose codes stop working; a
// scheme-2 code verifier also replaces a scheme-1 one. legacy (a scheme-1 verifier)
// needs the policy's legacy_codes.
func SetVerifiers(t Tx, x Sealer, p *model.Parcel, v Verifiers, legacy privacy.Digest) (*model.Parcel, error) {
	if p.State != model.StateAnnounced && p.State != model.StateDeposited {
		return nil, fmt.Errorf("%w: parcel %s is %s: no code applies", model.ErrState, p.ID, p.State)
	}
	if !legacy.IsZero() && !t.Policy().LegacyCodes {
		return nil, ErrLegacyCode
	}
	np := *p
	if err := v.Seal(&np, legacy, x); err != nil {
		return nil, err
	}
	return &np, t.Emit(model.Event{Type: model.EvVerifierSet, Parcel: p.ID, Actor: "cloud"})
}

// Cancel withdraws p if it is announced and not being deposited (model.ErrBusy while
// a courier deposits it); a parcel already in a compartment is recalled instead
// (Recall); one already recalled or terminal is left as it is.
func Cancel(t Tx, p *model.Parcel, reason string) (*model.Parcel, error) {
	np := *p
	switch {
	case p.State == model.StateAnnounced && p.Compartment == 0:
		np.State, np.PurgeAt = model.StateCancelled, t.Now().Add(t.Policy().PurgeAfter)
		return &np, t.Emit(model.Event{Type: model.EvCancelled, Parcel: p.ID, State: model.StateCancelled,
			Actor: "cloud", Reason: reason})
	case p.State == model.StateAnnounced:
		return nil, model.ErrBusy // a courier is depositing it right now
	case p.State == model.StateDeposited || p.State == model.StateExpired:
		return Recall(t, p, reason)
	}
	return nil, nil // already recalled or terminal: nothing to do
}

// Recall stops the code of p, deposited or expired, and marks it for retrieval.
func Recall(t Tx, p *model.Parcel, reason string) (*model.Parcel, error) {
	if p.State != model.StateDeposited && p.State != model.StateExpired {
		return nil, fmt.Errorf("%w: parcel %s is %s: only a parcel in a compartment can be recalled", model.ErrState, p.ID, p.State)
	}
	np := *p
	np.State = model.StateRecalled
	return &np, t.Emit(model.Event{Type: model.EvRecalled, Parcel: p.ID, Compartment: p.Compartment,
		Generation: p.Generation, State: model.StateRecalled, Actor: "cloud", Reason: reason})
}
