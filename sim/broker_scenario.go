package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// provision enrols the station, gives courier-7 its credential and announces parcels:
// over MQTT when the scenario has a fleet client (Scenario.Fleet), otherwise through the
// control socket's admin endpoints. It returns the locker id.
func (s *Scenario) provision(ctx context.Context, cl *control.Client, badge, pin string, parcels []Parcel) (string, error) {
	if s.Fleet == nil {
		return s.provisionLocally(ctx, cl, badge, pin, parcels)
	}
	id := s.Station.ID
	// The birth message follows the link's subscription to its commands: once the
	// cloud sees the locker online, a command is not lost (it was waiting for a re-send).
	if _, err := s.Fleet.AwaitPresence(ctx, id, func(p protocol.Presence) bool { return p.State == protocol.Online }); err != nil {
		return "", fmt.Errorf("sim: waiting for %s to come online: %w", id, err)
	}
	st, err := s.Cloud.EnrolOver(ctx, s.Fleet, id)
	if err != nil {
		return "", err
	}
	s.say("cloud", "enrolled locker %s over MQTT (device key %s…, boot %s): digest keys derived, nothing secret sent",
		id, st.Identity[:12], st.Boot)
	courier, err := s.Cloud.WireCourier(id, "courier-7", badge, pin, protocol.RightDeposit, protocol.RightRetrieve)
	if err != nil {
		return "", err
	}
	if _, err := s.Fleet.Do(ctx, id, courier); err != nil {
		return "", err
	}
	s.say("cloud", "courier-upsert: courier-7 may deposit and retrieve here (badge digest %x…, PIN verifier %x…)",
		courier.Badge[:4], courier.Verifier[:4])
	if err := s.Cloud.AnnounceOver(ctx, s.Fleet, id, parcels); err != nil {
		return "", err
	}
	for _, p := range parcels {
		s.say("cloud", "announce: %s (%s, size %s): waybill digest and code verifier only", p.ID, mask(p.Tracking), p.Size)
	}
	return id, nil
}

// provisionLocally is provision through the control socket, for stations without a
// cloud link.
func (s *Scenario) provisionLocally(ctx context.Context, cl *control.Client, badge, pin string, parcels []Parcel) (string, error) {
	ident, err := cl.Identity(ctx)
	if err != nil {
		return "", err
	}
	if err := s.Cloud.Enrol(ident.LockerID, ident.Public); err != nil {
		return "", err
	}
	s.say("cloud", "enrolled locker %s (device key %s…): digest keys derived, nothing secret sent", ident.LockerID, ident.Public[:12])
	req, err := s.Cloud.CourierRequest(ident.LockerID, "courier-7", badge, pin, locker.Rights{Deposit: true, Retrieve: true})
	if err != nil {
		return "", err
	}
	if err := cl.UpsertCourier(ctx, req); err != nil {
		return "", err
	}
	s.say("cloud", "courier-7 may deposit and retrieve here (badge digest %s…, PIN verifier %s…)", req.Badge[:8], req.Verifier[:8])
	var batch []control.Announcement
	for _, p := range parcels {
		a, err := s.Cloud.Announcement(ident.LockerID, p)
		if err != nil {
			return "", err
		}
		batch = append(batch, a)
	}
	if _, err := cl.Announce(ctx, batch); err != nil {
		return "", err
	}
	for _, p := range parcels {
		s.say("cloud", "announced %s (%s, size %s): waybill digest and code verifier only", p.ID, mask(p.Tracking), p.Size)
	}
	return ident.LockerID, nil
}

// PrintEvents prints the events the cloud receives, one line each, until ctx ends or
// the client is closed.
func PrintEvents(ctx context.Context, out io.Writer, cl *fleet.Client) error {
	for {
		ev, err := cl.NextEvent(ctx)
		if errors.Is(err, fleet.ErrClosed) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%-9s %s #%d %s %s\n", "event:", ev.LockerID, ev.Seq, ev.Type, eventSummary(ev.Body))
	}
}

// eventSummary shows an event body's ids and facts (there is nothing personal in it).
func eventSummary(b protocol.EventBody) string {
	switch b := b.(type) {
	case *protocol.ParcelEvent:
		s := fmt.Sprintf("parcel %s compartment %d actor %s", b.Parcel, b.Compartment, b.Actor)
		if b.Waybill != nil { // a parcel the cloud never announced: it matches it by this digest
			s += fmt.Sprintf(" waybill digest %x… (unannounced)", b.Waybill[:4])
		}
		return s
	case *protocol.DoorEvent:
		return fmt.Sprintf("compartment %d op %s", b.Compartment, b.Op)
	case *protocol.HealthEvent:
		return fmt.Sprintf("uptime %ds, %d parcels waiting, outbox %d, drivers %v", b.UptimeS, b.Parcels, b.Outbox, b.Drivers)
	case *protocol.HardwareEvent:
		return fmt.Sprintf("%s %s", b.Component, b.State)
	case *protocol.ThrottledEvent:
		return fmt.Sprintf("%s after %d failures, %ds", b.Source, b.Failures, b.DelayS)
	}
	return ""
}

// FleetSide is the simulator's fleet side: the embedded broker and the simulated
// cloud's MQTT client (mqtt/fleet) on it.
type FleetSide struct {
	Broker *Broker
	Client *fleet.Client
}

// StartFleetSide starts the embedded broker and connects the simulated cloud to it.
func StartFleetSide(ctx context.Context, c *Cloud, log *slog.Logger) (*FleetSide, error) {
	b, err := StartBroker(log)
	if err != nil {
		return nil, err
	}
	cl, err := c.Connect(ctx, fleet.Config{Broker: b.URL(), ClientID: "sim-cloud", Username: CloudUser,
		Password: b.CloudPassword(), Logger: log, ResendAfter: 5 * time.Second})
	if err != nil {
		b.Close()
		return nil, err
	}
	return &FleetSide{Broker: b, Client: cl}, nil
}

// Close disconnects the cloud and stops the broker.
func (l *FleetSide) Close() error {
	l.Client.Close()
	return l.Broker.Close()
}
