package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lockerd/lockerd/internal/cli"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// minPresenceQuiet is the least lockerctl fleet waits after the last retained
// presence before taking the fleet as complete. The broker sends them in one burst
// after the subscription, but a thousand of them on a fresh connection can come in
// several round trips' worth of TCP windows: the quiet is at least as long as the
// connect and subscribe took (three round trips or more).
const minPresenceQuiet = 50 * time.Millisecond

// noHealthHint explains the empty OUTBOX and ALARMS columns of a table without
// --listen: a locker's birth carries its health summary (docs/protocol.md §6), but an
// offline locker's presence (its Last Will or its shutdown) does not, nor does the
// birth of firmware that predates it. Those lockers' health travels only in the
// periodic health event, which the broker does not keep. %d is how many lockers.
const noHealthHint = "lockerctl: %d lockers' presence carries no health summary (offline, or older firmware), so OUTBOX and ALARMS show '-': --listen 15m gathers the health events of those online (every mqtt.health_interval)"

// Where a row's OUTBOX and ALARMS come from.
const (
	healthFromPresence = "presence" // the birth's summary: advisory, not MAC-tagged
	healthFromEvent    = "event"    // a tagged health event heard during --listen
)

// fleetRow is one locker in lockerctl fleet. Health columns come from the birth's
// health summary, or from a health event heard during --listen, which overrides it;
// they are empty (and absent in JSON) when neither said anything.
type fleetRow struct {
	Locker  string                 `json:"locker"`
	State   protocol.PresenceState `json:"state"`
	Reason  string                 `json:"reason,omitempty"`
	Since   time.Time              `json:"since,omitzero"` // the presence's time; none in a Last Will
	Version string                 `json:"version"`
	Boot    string                 `json:"boot"`
	// The time of the latest health event seen while listening.
	Health *time.Time `json:"health_time,omitempty"`
	Outbox *int       `json:"outbox,omitempty"`
	Alarms []string   `json:"alarms,omitempty"` // drivers not ok, as name=state
	// HealthFrom says where Outbox and Alarms come from: "presence" or "event".
	HealthFrom string `json:"health_from,omitempty"`
}

// fleetView is every locker's row, in locker order: a table, or one JSON line each.
type fleetView []fleetRow

func fleetCommand(withEnv withEnvFunc) *cobra.Command {
	var listen time.Duration
	c := &cobra.Command{
		Use:   "fleet",
		Short: "Every locker's presence, firmware, last seen, outbox and alarms (from retained presence)",
		Long: `Print every locker that ever connected: online or offline and since when,
its firmware version and boot id, and for an online locker its outbox backlog and
open alarms (drivers degraded or failed), from the presence each locker keeps
retained on the broker. No command is sent: a fleet of a thousand answers in well
under a second. The presence's outbox and alarms are advisory (they carry no device
MAC). An offline locker's presence, and that of older firmware, has no outbox or
alarms: those columns show "-". With --listen, lockerctl also listens that long for
the periodic health events (every mqtt.health_interval, 15 minutes by default), whose
figures are authenticated and replace the presence's.`,
		Example: `  lockerctl fleet                  # presence, outbox and alarms of every locker
  lockerctl fleet --listen 15m     # and the figures of their health events
  lockerctl fleet --json | jq -r 'select(.state=="offline").locker'`,
		Args: cli.Args(cobra.NoArgs),
		RunE: withEnv(func(e *env, _ []string) error { return e.fleet(listen) }),
	}
	c.Flags().DurationVar(&listen, "listen", 0, "also gather health events for this `long` (outbox, alarms)")
	return c
}

func (e *env) fleet(listen time.Duration) error {
	if listen < 0 {
		return fmt.Errorf("%w: --listen must not be negative", errUsage)
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.Timeout)
	defer cancel()
	ps, err := c.Presences(ctx, max(minPresenceQuiet, e.dialTook))
	if err != nil && e.ctx.Err() != nil {
		return e.ctx.Err()
	} // else: the retained presences kept coming for the whole timeout; show those
	rows := map[string]*fleetRow{}
	for id, p := range ps {
		r := &fleetRow{Locker: id, State: p.State, Reason: p.Reason, Since: p.Time, Version: p.Version, Boot: p.Boot}
		if h := p.Health; h != nil {
			outbox := h.Outbox
			r.Outbox, r.Alarms, r.HealthFrom = &outbox, h.Alarms, healthFromPresence
		}
		rows[id] = r
	}
	if listen > 0 {
		fmt.Fprintf(e.stderr, "lockerctl: listening %v for health events (Ctrl-C to stop early)\n", listen)
		lctx, lcancel := context.WithTimeout(e.ctx, listen)
		defer lcancel()
		for {
			ev, err := c.NextEvent(lctx)
			if err != nil {
				if lctx.Err() == nil {
					return err
				}
				break
			}
			h, ok := ev.Body.(*protocol.HealthEvent)
			if !ok {
				continue
			}
			r := rows[ev.LockerID]
			if r == nil { // its presence came after the snapshot
				r = &fleetRow{Locker: ev.LockerID}
				rows[ev.LockerID] = r
			}
			t, outbox := ev.Time, h.Outbox
			r.Health, r.Outbox, r.Alarms, r.HealthFrom = &t, &outbox, protocol.DriverAlarms(h.Drivers), healthFromEvent
		}
	}
	view := make(fleetView, 0, len(rows))
	online, noHealth := 0, 0
	for _, id := range slices.Sorted(maps.Keys(rows)) {
		view = append(view, *rows[id])
		if rows[id].State == protocol.Online {
			online++
		}
		if rows[id].Outbox == nil {
			noHealth++
		}
	}
	if err := e.print(view); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "lockerctl: %d lockers: %d online, %d offline\n", len(view), online, len(view)-online)
	if listen == 0 && e.output == outputTable && noHealth > 0 {
		// Some rows say "-"; say why once, for the person reading the table.
		fmt.Fprintf(e.stderr, noHealthHint+"\n", noHealth)
	}
	if len(view) == 0 {
		return errors.New("no locker has ever connected under topic_prefix " + e.cfg.Prefix)
	}
	return nil
}

// printFleetJSON writes one JSON line per locker.
func printFleetJSON(w io.Writer, v fleetView) error {
	for _, r := range v {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
			return err
		}
	}
	return nil
}

// fleetTable writes the fleet as a table. LAST SEEN is now for an online locker,
// else the latest of its offline presence's and its last health event's times.
func fleetTable(w io.Writer, v fleetView) error {
	tw := newTab(w)
	fmt.Fprintln(tw, "LOCKER\tSTATE\tSINCE\tFIRMWARE\tLAST SEEN\tOUTBOX\tALARMS")
	for _, r := range v {
		state := string(r.State)
		if r.Reason != "" {
			state += " (" + r.Reason + ")"
		}
		seen := "now"
		if r.State != protocol.Online {
			last := r.Since
			if r.Health != nil && r.Health.After(last) {
				last = *r.Health
			}
			seen = when(last)
		}
		outbox := "-"
		if r.Outbox != nil {
			outbox = fmt.Sprint(*r.Outbox)
		}
		alarms := "-"
		switch {
		case len(r.Alarms) > 0:
			alarms = strings.Join(r.Alarms, " ")
		case r.Outbox != nil: // health known, from the presence or an event
			alarms = "none"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Locker, dash(state), when(r.Since), dash(r.Version), seen, outbox, alarms)
	}
	return tw.Flush()
}
