package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/lockerd/lockerd/internal/cli"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// withEnvFunc turns a command's body into its RunE (root.go: the configuration
// loaded, the client closed after).
type withEnvFunc func(run func(e *env, args []string) error) func(*cobra.Command, []string) error

// lockerCommands are the commands sent to one locker, each answered by a final reply
// that lockerctl prints.
func lockerCommands(withEnv withEnvFunc) []*cobra.Command {
	simple := func(name, short string, body func() protocol.Body) *cobra.Command {
		var file string
		var parallel int
		var c *cobra.Command
		c = &cobra.Command{
			Use:   name + " LOCKER | --lockers FILE",
			Short: short,
			Args:  cli.Args(cobra.MaximumNArgs(1)),
			RunE: withEnv(func(e *env, args []string) error {
				if err := oneOrMany(args, file, c.UseLine()); err != nil {
					return err
				}
				if file != "" {
					return e.many(file, parallel, body)
				}
				return e.do(args[0], body())
			}),
		}
		lockersFlag(c, &file, &parallel)
		return c
	}
	parcelOp := func(use, short string, body func(id string) protocol.Body) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cli.Args(cobra.ExactArgs(2)),
			RunE: withEnv(func(e *env, args []string) error {
				return e.do(args[0], body(args[1]))
			}),
		}
	}
	compartmentOp := func(name, short string, body func(n uint16, operator string) protocol.Body) *cobra.Command {
		var operator string
		c := &cobra.Command{
			Use:   name + " LOCKER COMPARTMENT --operator ID",
			Short: short,
			Args:  cli.Args(cobra.ExactArgs(2)),
			RunE: withEnv(func(e *env, args []string) error {
				n, err := compartmentNumber(args[1])
				if err != nil {
					return err
				}
				return e.do(args[0], body(n, operator))
			}),
		}
		operatorFlag(c, &operator)
		return c
	}
	return []*cobra.Command{
		simple("ping", "Ask a locker to answer", func() protocol.Body { return &protocol.PingBody{} }),
		simple("status", "Ask a locker for its status", func() protocol.Body { return &protocol.StatusBody{} }),
		simple("inventory", "Ask a locker for its compartments and what they hold", func() protocol.Body { return &protocol.InventoryBody{} }),
		auditCommand(withEnv),
		openCommand(withEnv),
		compartmentOp("disable", "Take a compartment out of service", func(n uint16, op string) protocol.Body {
			return &protocol.DisableCompartmentBody{Compartment: n, Operator: op}
		}),
		compartmentOp("enable", "Put a compartment back in service", func(n uint16, op string) protocol.Body {
			return &protocol.EnableCompartmentBody{Compartment: n, Operator: op}
		}),
		resolveCommand(withEnv),
		parcelOp("cancel LOCKER PARCEL", "Cancel a parcel's announcement", func(p string) protocol.Body { return &protocol.CancelBody{Parcel: p} }),
		parcelOp("recall LOCKER PARCEL", "Recall a deposited parcel (a courier takes it back)", func(p string) protocol.Body { return &protocol.RecallBody{Parcel: p} }),
		parcelOp("courier-revoke LOCKER COURIER", "Remove a courier from a locker", func(c string) protocol.Body { return &protocol.CourierRevokeBody{Courier: c} }),
		announceCommand(withEnv),
		setCodeCommand(withEnv),
		courierNewCommand(withEnv),
		courierUpsertCommand(withEnv),
		clearThrottleCommand(withEnv),
		eraseSubjectCommand(withEnv),
		sendCommand(withEnv),
	}
}

// operatorFlag adds --operator, audited on the locker.
func operatorFlag(c *cobra.Command, operator *string) {
	c.Flags().StringVar(operator, "operator", "", "your operator `ID` (audited on the locker)")
}

// connect dials the broker once.
func (e *env) connect() (*fleet.Client, error) {
	if e.client != nil {
		return e.client, nil
	}
	cc, err := e.cfg.fleetConfig()
	if err != nil {
		return nil, err
	}
	cc.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(e.ctx, 15*time.Second)
	defer cancel()
	start := time.Now()
	c, err := fleet.Dial(ctx, cc)
	e.dialTook = time.Since(start)
	e.connectedAt = time.Now()
	if err != nil {
		if e.ctx.Err() != nil {
			return nil, e.ctx.Err()
		}
		return nil, brokerDown(append([]string{cc.Broker}, cc.Brokers...), err)
	}
	e.client = c
	return c, nil
}

// do sends body to locker, prints the final reply and returns an error unless it
// says done.
func (e *env) do(locker string, body protocol.Body) error {
	_, err := e.doReply(locker, body)
	return err
}

// doReply is do, returning the final reply too when one came.
func (e *env) doReply(locker string, body protocol.Body) (*protocol.Reply, error) {
	r, err := e.send(locker, body)
	if r == nil {
		return nil, err
	}
	if perr := e.print(r); perr != nil {
		return r, perr
	}
	return r, err
}

// send sends body to locker and returns its final reply, unprinted, and an error
// unless it says done.
func (e *env) send(locker string, body protocol.Body) (*protocol.Reply, error) {
	if err := body.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	c, err := e.connect()
	if err != nil {
		return nil, err
	}
	if err := e.checkPresence(c, locker); err != nil {
		return nil, err
	}
	cmd, err := c.NewCommand(locker, body)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.Timeout)
	defer cancel()
	r, err := c.Send(ctx, cmd, nil)
	if err != nil {
		// Sent, perhaps received, never answered: the locker may still run it until it
		// expires. Retrying means a new command; say so rather than guess.
		return nil, fmt.Errorf("%w: %s %s: no final reply (%v); the locker may still run it until %s",
			errUnknown, body.Type(), cmd.ID, err, cmd.Expires.UTC().Format(time.RFC3339))
	}
	switch {
	case r.Status == protocol.StatusUnknown:
		// The locker stopped while executing it: a door may have been pulsed, and it
		// will never run it again. Exit 3, not 1: look before sending a new one.
		return r, fmt.Errorf("%w: %s %s: %s %s: the locker stopped while running it and will not run it again (%s)",
			errUnknown, body.Type(), cmd.ID, r.Status, r.Reason, r.Detail)
	case r.Status != protocol.StatusDone:
		return r, fmt.Errorf("%s: %s %s (%s)", body.Type(), r.Status, r.Reason, r.Detail)
	case r.Reason == protocol.ReasonPartial:
		return r, fmt.Errorf("%s: done only in part: some items were refused (see body.items in the reply)", body.Type())
	}
	return r, nil
}

// printJSON writes v as one JSON line: the form scripts parse, unchanged.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func auditCommand(withEnv withEnvFunc) *cobra.Command {
	var from, to uint64
	var limit int
	c := &cobra.Command{
		Use:   "audit LOCKER",
		Short: "Fetch a range of a locker's audit log",
		Args:  cli.Args(cobra.ExactArgs(1)),
		RunE: withEnv(func(e *env, args []string) error {
			return e.do(args[0], &protocol.AuditRangeBody{From: from, To: to, Limit: limit})
		}),
	}
	c.Flags().Uint64Var(&from, "from", 1, "first sequence `number`")
	c.Flags().Uint64Var(&to, "to", 0, "last sequence `number` (0: the newest)")
	c.Flags().IntVar(&limit, "limit", 0, "at most this many entries (0: the locker's maximum)")
	return c
}

func compartmentNumber(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w: compartment %q: want 1..65535", errUsage, s)
	}
	return uint16(n), nil
}

func openCommand(withEnv withEnvFunc) *cobra.Command {
	var operator, reason string
	c := &cobra.Command{
		Use:   "open LOCKER COMPARTMENT --operator ID",
		Short: "Open a compartment's door remotely (audited, rate-limited on the locker)",
		Args:  cli.Args(cobra.ExactArgs(2)),
		RunE: withEnv(func(e *env, args []string) error {
			n, err := compartmentNumber(args[1])
			if err != nil {
				return err
			}
			r, err := protocol.ParseOpenReason(reason)
			if err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			return e.do(args[0], &protocol.OpenCompartmentBody{Compartment: n, Reason: r, Operator: operator})
		}),
	}
	operatorFlag(c, &operator)
	c.Flags().StringVar(&reason, "reason", string(protocol.OpenSupport), "why: support, maintenance, inspection, retrieval or other")
	_ = c.RegisterFlagCompletionFunc("reason", cobra.FixedCompletions(
		[]string{"support", "maintenance", "inspection", "retrieval", "other"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// resolveCommand settles an operation (a deposit, pickup, retrieval or cancel) a
// restart left unverified, once someone has looked: --present or --absent says
// whether the parcel is inside.
func resolveCommand(withEnv withEnvFunc) *cobra.Command {
	var operator string
	var present, absent bool
	c := &cobra.Command{
		Use:   "resolve LOCKER COMPARTMENT --present|--absent --operator ID",
		Short: "Settle an operation a restart left unverified, once someone has looked",
		Args:  cli.Args(cobra.ExactArgs(2)),
		RunE: withEnv(func(e *env, args []string) error {
			if present == absent {
				return fmt.Errorf("%w: say --present or --absent", errUsage)
			}
			n, err := compartmentNumber(args[1])
			if err != nil {
				return err
			}
			return e.do(args[0], &protocol.ResolveCompartmentBody{Compartment: n, Present: present, Operator: operator})
		}),
	}
	operatorFlag(c, &operator)
	c.Flags().BoolVar(&present, "present", false, "the parcel was found in the compartment")
	c.Flags().BoolVar(&absent, "absent", false, "the compartment was found empty")
	return c
}

// sendCommand sends any command whose body is given as JSON, checked by the
// protocol's strict decoder first.
func sendCommand(withEnv withEnvFunc) *cobra.Command {
	var file string
	var parallel int
	c := &cobra.Command{
		Use:   "send LOCKER TYPE FILE.json|- | send --lockers FILE TYPE FILE.json",
		Short: "Send any command, its body as JSON (from a file or standard input), to one locker or many",
		Example: `  lockerctl send LK-0001 policy policy.json
  lockerctl send --lockers lockers.txt policy policy.json   # every locker listed, a summary at the end`,
		Args: cli.Args(cobra.RangeArgs(2, 3)),
		RunE: withEnv(func(e *env, args []string) error {
			if (file == "") != (len(args) == 3) {
				return fmt.Errorf("%w: send LOCKER TYPE FILE, or send --lockers FILE TYPE FILE", errUsage)
			}
			if file != "" {
				args = append([]string{""}, args...)
				if file == "-" && args[2] == "-" {
					return fmt.Errorf("%w: --lockers and the body cannot both come from standard input", errUsage)
				}
			}
			typ, err := protocol.ParseCommandType(args[1])
			if err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			var raw []byte
			if args[2] == "-" {
				raw, err = io.ReadAll(io.LimitReader(e.stdin, 1<<20))
			} else {
				raw, err = os.ReadFile(args[2])
			}
			if err != nil {
				return err
			}
			body, err := protocol.DecodeBody(typ, raw)
			if err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			if file != "" {
				// Each locker gets its own command (its own id and signature) of the
				// same body, decoded again so that no two share one value.
				return e.many(file, parallel, func() protocol.Body {
					b, _ := protocol.DecodeBody(typ, raw)
					return b
				})
			}
			return e.do(args[0], body)
		}),
	}
	lockersFlag(c, &file, &parallel)
	return c
}
