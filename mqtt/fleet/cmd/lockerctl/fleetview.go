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
// --listen: a locker keeps only its presence retained on the broker; its outbox
// backlog and driver health travel in the periodic health event, which is not kept.
const noHealthHint = "lockerctl: OUTBOX and ALARMS come from the lockers' health events (every mqtt.health_interval), which the broker does not keep: --listen 15m gathers them"

// fleetRow is one locker in lockerctl fleet. Health columns are empty (and absent in
// JSON) until a health event came during --listen: the wire retains only presence.
type fleetRow struct {
	Locker  string                 `json:"locker"`
	State   protocol.PresenceState `json:"state"`
	Reason  string                 `json:"reason,omitempty"`
	Since   time.Time              `json:"since,omitzero"` // the presence's time; none in a Last Will
	Version string                 `json:"version"`
	Boot    string                 `json:"boot"`
	// From the latest health event seen while listening.
	Health *time.Time `json:"health_time,omitempty"`
	Outbox *int       `json:"outbox,omitempty"`
	Alarms []string   `json:"alarms,omitempty"` // drivers not ok, as name=state
}

// fleetView is every locker's row, in locker order: a table, or one JSON line each.
type fleetView []fleetRow

func fleetCommand(withEnv withEnvFunc) *cobra.Command {
	var listen time.Duration
	c := &cobra.Command{
		Use:   "fleet",
		Short: "Every locker's presence, firmware and last seen (from retained presence)",
		Long: `Print every locker that ever connected: online or offline and since when,
its firmware version and boot id, from the presence each locker keeps retained on
the broker. No command is sent: a fleet of a thousand answers in well under a
second. With --listen, lockerctl also listens that long for the periodic health
events (every mqtt.health_interval, 15 minutes by default) and adds each locker's
outbox backlog and open alarms (drivers degraded or failed); the broker does not
keep those, so without --listen those columns show "-".`,
		Example: `  lockerctl fleet                  # presence of every locker
  lockerctl fleet --listen 15m     # and outbox and alarms from their health events
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
		rows[id] = &fleetRow{Locker: id, State: p.State, Reason: p.Reason, Since: p.Time, Version: p.Version, Boot: p.Boot}
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
			r.Health, r.Outbox, r.Alarms = &t, &outbox, nil
			for _, name := range slices.Sorted(maps.Keys(h.Drivers)) {
				if st := h.Drivers[name]; st != protocol.HealthOK {
					r.Alarms = append(r.Alarms, name+"="+string(st))
				}
			}
		}
	}
	view := make(fleetView, 0, len(rows))
	online := 0
	for _, id := range slices.Sorted(maps.Keys(rows)) {
		view = append(view, *rows[id])
		if rows[id].State == protocol.Online {
			online++
		}
	}
	if err := e.print(view); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "lockerctl: %d lockers: %d online, %d offline\n", len(view), online, len(view)-online)
	if listen == 0 && e.output == outputTable && len(view) > 0 {
		// The columns say "-"; say why once, for the person reading the table.
		fmt.Fprintln(e.stderr, noHealthHint)
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
		case r.Health != nil:
			alarms = "none"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Locker, dash(state), when(r.Since), dash(r.Version), seen, outbox, alarms)
	}
	return tw.Flush()
}
