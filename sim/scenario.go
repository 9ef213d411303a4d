package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/mqtt/fleet"
)

// Events fans a station's committed events out to a scenario. Its Observe method is
// the station's Observer: it never blocks (a full buffer drops, and Wait times out).
type Events struct {
	ch chan locker.Event
}

// NewEvents returns an event feed with room for n undelivered events.
func NewEvents(n int) *Events { return &Events{ch: make(chan locker.Event, n)} }

// Observe is a locker Observer.
func (e *Events) Observe(ev locker.Event) {
	select {
	case e.ch <- ev:
	default:
	}
}

// Wait returns the first event that matches, or an error after timeout.
func (e *Events) Wait(ctx context.Context, timeout time.Duration, match func(locker.Event) bool) (locker.Event, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case ev := <-e.ch:
			if match(ev) {
				return ev, nil
			}
		case <-t.C:
			return locker.Event{}, errors.New("sim: timed out waiting for an event")
		case <-ctx.Done():
			return locker.Event{}, ctx.Err()
		}
	}
}

func isEvent(t locker.EventType, parcel string) func(locker.Event) bool {
	return func(e locker.Event) bool { return e.Type == t && (parcel == "" || string(e.Parcel) == parcel) }
}

// Scenario is the scripted demonstration: a courier deposits parcels, recipients pick
// them up with the codes the cloud "texted" them.
type Scenario struct {
	Out     io.Writer
	Station *Station
	Cloud   *Cloud
	Events  *Events
	// DoorTimeout bounds each wait for a person to open and shut a door.
	DoorTimeout time.Duration
	// Fleet, when set, is the simulated cloud's MQTT client (mqtt/fleet): enrolment,
	// the courier and the announcements go over MQTT to the station's cloud link
	// instead of through the control socket.
	Fleet *fleet.Client
	// Texts, when set, also gets each text the cloud sends a person (the browser
	// front panel shows them; see Web.Text).
	Texts func(to, text string)
}

func (s *Scenario) say(who, format string, args ...any) {
	fmt.Fprintf(s.Out, "%-9s %s\n", who+":", fmt.Sprintf(format, args...))
}

// text is the cloud texting a person: printed, and passed to Texts.
func (s *Scenario) text(to, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.say("sms", "to %s: %s", to, msg)
	if s.Texts != nil {
		s.Texts(to, msg)
	}
}

// Run plays the scenario against a running station.
func (s *Scenario) Run(ctx context.Context) error {
	if s.DoorTimeout == 0 {
		s.DoorTimeout = 15 * time.Second
	}
	cl := s.Station.Client()
	defer cl.Close()
	badge, pin := privacy.NewBadgeToken(), RandomCode(4) // 130 bits, as lockerctl courier-new makes them
	alice, bob := s.Cloud.NewParcel("S"), s.Cloud.NewParcel("M")
	bob2 := s.Cloud.NewParcel("L")
	bob2.Code, bob2.Phone, bob2.QR = bob.Code, bob.Phone, bob.QR // one recipient, two parcels, one code
	lockerID, err := s.provision(ctx, cl, badge, pin, []Parcel{alice, bob, bob2})
	if err != nil {
		return err
	}
	s.text("Alice", "your parcel %s waits at %s, pickup code %s with your phone's last four digits, or your QR", mask(alice.Tracking), lockerID, alice.Code)
	s.text("Bob", "your 2 parcels wait at %s, pickup code %s with your phone's last four digits, or your QR", lockerID, bob.Code)

	parcels := []Parcel{alice, bob, bob2, {Tracking: RandomS10(), Size: "XL"}} // the last one unannounced and bulky
	deposit := s.apiDeposits
	if s.Station.HasPanel() {
		deposit = func(ctx context.Context, _ *control.Client, badge, pin string, parcels []Parcel) error {
			return s.panelDeposits(ctx, badge, pin, parcels)
		}
	}
	if err := deposit(ctx, cl, badge, pin, parcels); err != nil {
		return err
	}

	// A mistyped code (through the control API: the panel's keypad comes after) must
	// be refused as wrong, and nothing else: a success or another error is a failure.
	switch _, err := cl.PickupCode(ctx, RandomCode(8), RandomCode(4)); {
	case errors.Is(err, locker.ErrWrongCode):
		s.say("recipient", "a mistyped code is refused: %s", locker.ErrWrongCode)
	case err == nil:
		return errors.New("sim: a random code opened a door")
	default:
		return fmt.Errorf("sim: a mistyped code: %w", err)
	}
	for i, who := range []struct {
		name string
		p    Parcel
		n    int
	}{{"Alice", alice, 1}, {"Bob", bob, 2}} {
		slots, how, err := s.pickup(ctx, cl, i, who.p)
		if err != nil {
			return fmt.Errorf("sim: %s's pickup: %w", who.name, err)
		}
		for _, sl := range slots {
			s.say("recipient", "%s %s -> door %s opens", who.name, how, sl.Label)
		}
		for range who.n {
			ev, err := s.Events.Wait(ctx, s.DoorTimeout, isEvent(locker.EvPickedUp, ""))
			if err != nil {
				return fmt.Errorf("sim: %s's door: %w", who.name, err)
			}
			s.say("locker", "%s took %s and shut the door: picked up", who.name, ev.Parcel)
		}
	}
	st, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	// With a cloud link, let the last events reach the cloud before the scenario
	// ends (and a run that exits with it deletes the outbox): wait, bounded, until
	// the broker has acknowledged them all.
	for deadline := time.Now().Add(10 * time.Second); s.Fleet != nil && st.Outbox > 0 && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if st, err = cl.Status(ctx); err != nil {
			return err
		}
	}
	var counts []string
	for _, state := range slices.Sorted(maps.Keys(st.Parcels)) {
		counts = append(counts, fmt.Sprintf("%d %s", st.Parcels[state], state))
	}
	s.say("locker", "status: %d compartments, %d free; parcels: %s; audit entries %d; events waiting for the cloud %d",
		st.Compartments, st.Free, strings.Join(counts, ", "), st.AuditSeq, st.Outbox)
	return nil
}

// mask shows what a label may show: the last four characters.
func mask(tracking string) string {
	if len(tracking) <= 4 {
		return "…"
	}
	return "…" + tracking[len(tracking)-4:]
}
