package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/locker"
)

// How a person types on the virtual keypad: each key held, then a pause.
const keyHold, keyGap = 80 * time.Millisecond, 40 * time.Millisecond

// HasPanel reports whether people can use the station's front panel: a scanner and a
// keypad, with lockerd in-process so that the keypad's fake pins reach it.
func (s *Station) HasPanel() bool { return s.Scanner != nil && s.Keypad != nil && s.Screens != nil }

func (s *Scenario) typeKeys(ctx context.Context, keys string) error {
	return s.Station.Keypad.Type(ctx, keys, keyHold, keyGap, 0)
}

// panelShows waits until the panel shows one of prompts and returns the screen; the
// first prompt is the one wanted, and any other is an error.
func (s *Scenario) panelShows(ctx context.Context, what string, want panel.Prompt, others ...panel.Prompt) (panel.Screen, error) {
	sc, err := s.Station.Screens.Wait(ctx, s.DoorTimeout, Prompts(append([]panel.Prompt{want}, others...)...))
	if err != nil {
		return sc, fmt.Errorf("sim: %s: %w", what, err)
	}
	if sc.Prompt != want {
		return sc, fmt.Errorf("sim: %s: the panel says %s", what, sc.Prompt)
	}
	return sc, nil
}

// Outcomes of a courier's scan, as the panel shows them.
var depositOutcomes = []panel.Prompt{panel.PromptChooseSize, panel.PromptDuplicate, panel.PromptAlreadyHere,
	panel.PromptNoFree, panel.PromptDoorFault, panel.PromptBadScan, panel.PromptSessionEnded,
	panel.PromptNoRights, panel.PromptError}

var sizeKeys = map[string]string{"S": "1", "M": "2", "L": "3", "XL": "4"}

// panelDeposits is the courier at the front panel: the badge QR to the scanner, the
// PIN and '#' on the keypad, then one scan per parcel (choosing the size on the keypad
// first for a parcel the cloud did not announce), and '#' to finish.
func (s *Scenario) panelDeposits(ctx context.Context, badge, pin string, parcels []Parcel) error {
	scanner := s.Station.Scanner
	if err := scanner.Type(panel.PrefixBadge + badge); err != nil {
		return err
	}
	if _, err := s.panelShows(ctx, "badge", panel.PromptEnterPIN, panel.PromptBadScan); err != nil {
		return err
	}
	if err := s.typeKeys(ctx, pin+"#"); err != nil {
		return err
	}
	if _, err := s.panelShows(ctx, "login", panel.PromptSessionOpen, panel.PromptBadBadge,
		panel.PromptLocked, panel.PromptError); err != nil {
		return err
	}
	s.say("courier", "shows the badge QR to the scanner and types the PIN on the keypad: session open")
	for _, p := range parcels {
		if p.ID == "" {
			key := sizeKeys[p.Size]
			if err := s.typeKeys(ctx, key); err != nil {
				return err
			}
			if _, err := s.panelShows(ctx, "size key", panel.PromptSize); err != nil {
				return err
			}
			s.say("courier", "presses %s: size %s for a parcel the cloud did not announce", key, p.Size)
		}
		if err := scanner.Type(p.Tracking); err != nil {
			return err
		}
		sc, err := s.panelShows(ctx, "deposit "+mask(p.Tracking), panel.PromptDeposit, depositOutcomes...)
		if err != nil {
			return err
		}
		slot := sc.Slots[0]
		s.say("courier", "scans %s -> door %s opens (compartment %d)", mask(p.Tracking), slot.Label, slot.Compartment)
		if _, err := s.Events.Wait(ctx, s.DoorTimeout, isEvent(locker.EvDeposited, string(slot.Parcel))); err != nil {
			return fmt.Errorf("sim: door %s: %w", slot.Label, err)
		}
		s.say("locker", "door %s closed: %s deposited", slot.Label, slot.Parcel)
	}
	if err := s.typeKeys(ctx, "#"); err != nil {
		return err
	}
	_, err := s.panelShows(ctx, "end of session", panel.PromptSessionClosed)
	return err
}

// apiDeposits is the courier through the control API, for stations without a panel.
func (s *Scenario) apiDeposits(ctx context.Context, cl *control.Client, badge, pin string, parcels []Parcel) error {
	sid, err := cl.Login(ctx, badge, pin)
	if err != nil {
		return err
	}
	s.say("courier", "logged in with badge and PIN")
	for _, p := range parcels {
		slot, err := cl.Scan(ctx, sid, p.Tracking+"\r\n", p.Size)
		if err != nil {
			return fmt.Errorf("sim: deposit %s: %w", mask(p.Tracking), err)
		}
		s.say("courier", "scanned %s -> door %s opens (compartment %d)", mask(p.Tracking), slot.Label, slot.Compartment)
		if _, err := s.Events.Wait(ctx, s.DoorTimeout, isEvent(locker.EvDeposited, string(slot.Parcel))); err != nil {
			return fmt.Errorf("sim: door %s: %w", slot.Label, err)
		}
		s.say("locker", "door %s closed: %s deposited", slot.Label, slot.Parcel)
	}
	return cl.Logout(ctx, sid)
}

// pickup is the i-th recipient entering their code and phone digits, or showing their
// QR: at a panel the first types on the keypad and the others show the QR to the
// scanner; without one, through the API (the first the code, the others the QR). It
// returns the doors that opened and how the recipient did it.
func (s *Scenario) pickup(ctx context.Context, cl *control.Client, i int, p Parcel) ([]locker.Slot, string, error) {
	if !s.Station.HasPanel() {
		if i == 0 {
			res, err := cl.PickupCode(ctx, p.Code, p.Phone)
			return res.Slots, "enters the code and the phone's last four digits", err
		}
		res, err := cl.PickupQR(ctx, p.QR)
		return res.Slots, "shows the pickup QR", err
	}
	how := "types the code and the phone's last four digits on the keypad"
	var err error
	if i == 0 {
		err = s.typeKeys(ctx, p.Code+"#"+p.Phone+"#")
	} else {
		how = "shows the pickup QR to the scanner"
		err = s.Station.Scanner.Type(panel.PrefixQR + p.QR)
	}
	if err != nil {
		return nil, how, err
	}
	sc, err := s.panelShows(ctx, "pickup", panel.PromptDoorsOpen, panel.PromptWrongCode, panel.PromptLocked,
		panel.PromptDoorFault, panel.PromptError)
	return sc.Slots, how, err
}
