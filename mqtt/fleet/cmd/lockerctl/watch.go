package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lockerd/lockerd/internal/cli"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// watchCommands print what lockers publish: events and presence.
func watchCommands(withEnv withEnvFunc) []*cobra.Command {
	return []*cobra.Command{eventsCommand(withEnv), presenceCommand(withEnv), fleetCommand(withEnv)}
}

// eventsCommand prints events as JSON lines, each id once and in seq order per
// locker, until --count events were printed, --for has passed or the process is
// interrupted.
func eventsCommand(withEnv withEnvFunc) *cobra.Command {
	var count int
	var dur time.Duration
	c := &cobra.Command{
		Use:     "events [LOCKER ...]",
		Aliases: []string{"watch"},
		Short:   "Print lockers' events as they arrive (all lockers, or those named)",
		Long: `Print lockers' events as they arrive, from all lockers or those named: each id
once, in seq order per locker, one line per event (a JSON line with --json or when
standard output is not a terminal). On a terminal, a line on standard error says
it is waiting; Ctrl-C stops it, as do --count and --for.`,
		Example: `  lockerctl watch LK-0001           # on a terminal: time, locker, seq, type, body
  lockerctl events --for 1h --json  # JSON lines for a script`,
		Args: cli.Args(cobra.ArbitraryArgs),
		RunE: withEnv(func(e *env, lockers []string) error {
			return e.events(lockers, count, dur)
		}),
	}
	c.Flags().IntVarP(&count, "count", "n", 0, "stop after this many events (0: no limit)")
	c.Flags().DurationVar(&dur, "for", 0, "stop after this long (0: until interrupted)")
	return c
}

func (e *env) events(lockers []string, n int, dur time.Duration) error {
	if n < 0 || dur < 0 {
		return fmt.Errorf("%w: --count and --for must not be negative", errUsage)
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	ctx := e.ctx
	if dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dur)
		defer cancel()
	}
	who := "every locker"
	if len(lockers) > 0 {
		who = strings.Join(lockers, ", ")
	}
	if e.stderrTTY { // a hint for people; a script's standard error stays for errors
		fmt.Fprintf(e.stderr, "lockerctl: waiting for events of %s (Ctrl-C to stop)\n", who)
	}
	printed := 0
	show := func(ev fleet.Event) error {
		if len(lockers) > 0 && !slices.Contains(lockers, ev.LockerID) {
			return nil
		}
		printed++
		return e.print(lockerEvent{ev.LockerID, ev.Event})
	}
	for n == 0 || printed < n {
		ev, err := c.NextEvent(ctx)
		if err != nil {
			if ctx.Err() == nil {
				return err
			}
			// The time asked for is up, or an interrupt: events received but held
			// back for a gap before them are printed now, not lost.
			held := c.FlushHeldEvents()
			if len(held) > 0 {
				fmt.Fprintf(e.stderr, "lockerctl: %d more events printed at exit; some waited for earlier ones that never arrived (missed while not listening: see audit)\n", len(held))
			}
			for _, ev := range held {
				if n > 0 && printed >= n {
					break
				}
				if err := show(ev); err != nil {
					return err
				}
			}
			return nil
		}
		if err := show(ev); err != nil {
			return err
		}
	}
	return nil
}

func presenceCommand(withEnv withEnvFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "presence LOCKER",
		Short: "Print a locker's retained presence (online, offline, since when)",
		Args:  cli.Args(cobra.ExactArgs(1)),
		RunE: withEnv(func(e *env, args []string) error {
			c, err := e.connect()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(e.ctx, presenceGrace)
			defer cancel()
			p, err := c.AwaitPresence(ctx, args[0], func(protocol.Presence) bool { return true })
			if err != nil {
				if e.ctx.Err() != nil {
					return e.ctx.Err()
				}
				return unknownLocker(args[0], e.cfg.Prefix)
			}
			return e.print(p)
		}),
	}
}
