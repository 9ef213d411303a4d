package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Output: every result goes through env.print, which writes JSON lines (one per
// reply, event or presence, as lockerctl always has: scripts parse them) or a table
// for people. --json and --table choose; without either, tables when standard output
// is a terminal and JSON lines otherwise, so a pipe or a redirection gets exactly
// what it always got. Tables are aligned by text/tabwriter and carry no escape codes.

// outputMode is how results are printed.
type outputMode int

const (
	outputJSON  outputMode = 1
	outputTable outputMode = 2
)

// chooseOutput resolves --json and --table against whether standard output is a
// terminal.
func chooseOutput(jsonFlag, tableFlag, stdoutTTY bool) (outputMode, error) {
	switch {
	case jsonFlag && tableFlag:
		return 0, fmt.Errorf("%w: --json and --table exclude each other", errUsage)
	case jsonFlag:
		return outputJSON, nil
	case tableFlag:
		return outputTable, nil
	case stdoutTTY:
		return outputTable, nil
	}
	return outputJSON, nil
}

// lockerEvent is an event as events and watch print it: the locker's id first.
type lockerEvent struct {
	Locker string `json:"locker"`
	protocol.Event
}

// print writes one result (a reply, an event, a presence) to standard output. Every
// result goes through here.
func (e *env) print(v any) error {
	if e.output != outputTable {
		if fv, ok := v.(fleetView); ok {
			return printFleetJSON(e.stdout, fv)
		}
		return printJSON(e.stdout, v)
	}
	return printTable(e.stdout, v)
}

// printTable writes v for people. Anything without a table form is written as
// indented JSON.
func printTable(w io.Writer, v any) error {
	switch v := v.(type) {
	case *protocol.Reply:
		return replyTable(w, v)
	case lockerEvent:
		return eventLine(w, v)
	case protocol.Presence:
		return presenceTable(w, "", v)
	case fleetView:
		return fleetTable(w, v)
	case manyOutcomes:
		return manyTable(w, v)
	case map[string]string:
		tw := newTab(w)
		for _, k := range slices.Sorted(maps.Keys(v)) {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v[k])
		}
		return tw.Flush()
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func newTab(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// when formats a time for a table: UTC, to the second; "-" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// dash shows an empty field as "-", so columns never collapse.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// replyTable writes a final reply: its outcome line, then its body's table when the
// command's type has one (status, inventory, audit, ping, a partial announce).
func replyTable(w io.Writer, r *protocol.Reply) error {
	outcome := string(r.Status)
	if r.Reason != "" {
		outcome += " (" + string(r.Reason) + ")"
	}
	if r.Detail != "" {
		outcome += ": " + r.Detail
	}
	if _, err := fmt.Fprintf(w, "%s %s: %s\n", r.Typ, r.ID, outcome); err != nil {
		return err
	}
	if len(r.Body) == 0 {
		return nil
	}
	res, err := protocol.DecodeResult(r.Typ, r.Body)
	if err != nil || res == nil {
		return printJSON(w, json.RawMessage(r.Body)) // a newer locker's body: shown as sent
	}
	tw := newTab(w)
	switch res := res.(type) {
	case *protocol.StatusResult:
		drivers := make([]string, 0, len(res.Drivers))
		for _, name := range slices.Sorted(maps.Keys(res.Drivers)) {
			drivers = append(drivers, name+"="+string(res.Drivers[name]))
		}
		for _, kv := range [][2]string{
			{"boot", res.Boot}, {"version", res.Version},
			{"uptime", (time.Duration(res.UptimeS) * time.Second).String()},
			{"parcels waiting", fmt.Sprint(res.Parcels)},
			{"compartments", fmt.Sprintf("%d (%d free, %d disabled)", res.Compartments, res.Free, res.Disabled)},
			{"outbox", fmt.Sprint(res.Outbox)},
			{"policy version", fmt.Sprint(res.PolicyVersion)},
			{"legacy parcels", fmt.Sprint(res.LegacyParcels)},
			{"code failures 24h", fmt.Sprint(res.CodeFailures24h)},
			{"drivers", dash(strings.Join(drivers, " "))},
			{"x25519_public", dash(res.Identity)},
		} {
			fmt.Fprintf(tw, "  %s:\t%s\n", kv[0], kv[1])
		}
	case *protocol.InventoryResult:
		fmt.Fprintln(tw, "  COMPARTMENT\tLABEL\tSIZE\tKIND\tSTATE\tDOOR\tPARCELS")
		for _, c := range res.Compartments {
			state := "in service"
			switch {
			case c.Fault != "":
				state = "fault: " + c.Fault
			case c.Disabled:
				state = "disabled"
			}
			door := "shut"
			if c.Open {
				door = "open"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, dash(c.Label), c.Size, c.Kind, state, door,
				dash(strings.Join(c.Parcels, " ")))
		}
	case *protocol.AuditRangeResult:
		fmt.Fprintln(tw, "  SEQ\tTIME\tTYPE\tCOMPARTMENT\tPARCEL\tACTOR\tREASON")
		for _, a := range res.Entries {
			comp := "-"
			if a.Compartment != 0 {
				comp = fmt.Sprint(a.Compartment)
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Seq, when(a.Time), a.Type, comp, dash(a.Parcel), dash(a.Actor), dash(a.Reason))
		}
		if res.Next != 0 {
			fmt.Fprintf(tw, "  (more: --from %d)\n", res.Next)
		}
	case *protocol.PingResult:
		fmt.Fprintf(tw, "  locker clock:\t%s\n  boot:\t%s\n", when(res.Time), res.Boot)
	case *protocol.AnnounceResult:
		fmt.Fprintln(tw, "  PARCEL\tSTATUS\tREASON")
		for _, it := range res.Items {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", it.Parcel, it.Status, dash(string(it.Reason)))
		}
	}
	return tw.Flush()
}

// eventLine writes one event on one line, so that a live stream is readable as it
// comes: time, locker, seq, type and the body as sent.
func eventLine(w io.Writer, ev lockerEvent) error {
	body := string(ev.Body)
	if body == "" || body == "{}" || body == "null" {
		body = ""
	}
	_, err := fmt.Fprintf(w, "%s  %-12s %6d  %-18s %s\n", when(ev.Time), ev.Locker, ev.Seq, ev.Type, body)
	return err
}

// presenceTable writes a locker's presence.
func presenceTable(w io.Writer, locker string, p protocol.Presence) error {
	tw := newTab(w)
	if locker != "" {
		fmt.Fprintf(tw, "locker:\t%s\n", locker)
	}
	state := string(p.State)
	if p.Reason != "" {
		state += " (" + p.Reason + ")"
	}
	fmt.Fprintf(tw, "state:\t%s\nsince:\t%s\nversion:\t%s\nboot:\t%s\n", state, when(p.Time), p.Version, p.Boot)
	return tw.Flush()
}
