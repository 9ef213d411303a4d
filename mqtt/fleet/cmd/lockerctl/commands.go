package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// env is what a subcommand works with.
type env struct {
	ctx    context.Context
	cfg    *config
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	client *fleet.Client // connected on first use
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lockerctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/lockerctl/lockerctl.yaml", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: lockerctl [-config FILE] COMMAND ... (see `go doc ./mqtt/fleet/cmd/lockerctl`)", errUsage)
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "keygen" {
		if len(rest) != 1 {
			return fmt.Errorf("%w: keygen DIR", errUsage)
		}
		fleet, err := keygen(rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "# wrote %s/fleet.pem and %s/fleet-x25519.pem; every locker's lockerd.yaml gets:\n%s", rest[0], rest[0], fleet)
		return nil
	}
	sub, ok := subcommands[name]
	if !ok {
		return fmt.Errorf("%w: unknown command %q", errUsage, name)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	e := &env{ctx: ctx, cfg: cfg, stdin: stdin, stdout: stdout, stderr: stderr}
	defer func() {
		if e.client != nil {
			e.client.Close()
		}
	}()
	return sub(e, rest)
}

// subcommand runs one lockerctl command with its arguments.
type subcommand func(e *env, args []string) error

var subcommands = map[string]subcommand{
	"ping":      simple(func() protocol.Body { return &protocol.PingBody{} }),
	"status":    simple(func() protocol.Body { return &protocol.StatusBody{} }),
	"inventory": simple(func() protocol.Body { return &protocol.InventoryBody{} }),
	"audit":     audit,
	"open":      open,
	"disable": compartmentOp(func(n uint16, op string) protocol.Body {
		return &protocol.DisableCompartmentBody{Compartment: n, Operator: op}
	}),
	"enable": compartmentOp(func(n uint16, op string) protocol.Body {
		return &protocol.EnableCompartmentBody{Compartment: n, Operator: op}
	}),
	"resolve":        resolve,
	"cancel":         parcelOp(func(p string) protocol.Body { return &protocol.CancelBody{Parcel: p} }),
	"recall":         parcelOp(func(p string) protocol.Body { return &protocol.RecallBody{Parcel: p} }),
	"courier-revoke": parcelOp(func(c string) protocol.Body { return &protocol.CourierRevokeBody{Courier: c} }),
	"announce":       announce,
	"set-code":       setCode,
	"clear-throttle": clearThrottle,
	"courier-upsert": courierUpsert,
	"courier-new":    courierNew,
	"send":           send,
	"events":         events,
	"presence":       presence,
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
	c, err := fleet.Dial(ctx, cc)
	if err != nil {
		return nil, err
	}
	e.client = c
	return c, nil
}

// do sends body to locker, prints the final reply as one JSON line and returns an
// error unless it says done.
func (e *env) do(locker string, body protocol.Body) error {
	if err := body.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	cmd, err := c.NewCommand(locker, body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.Timeout)
	defer cancel()
	r, err := c.Send(ctx, cmd, nil)
	if err != nil {
		// Sent, perhaps received, never answered: the locker may still run it until it
		// expires. Retrying means a new command; say so rather than guess.
		return fmt.Errorf("%w: %s %s: no final reply (%v); the locker may still run it until %s",
			errUnknown, body.Type(), cmd.ID, err, cmd.Expires.UTC().Format(time.RFC3339))
	}
	if perr := printJSON(e.stdout, r); perr != nil {
		return perr
	}
	switch {
	case r.Status == protocol.StatusUnknown:
		// The locker stopped while executing it: a door may have been pulsed, and it
		// will never run it again. Exit 3, not 1: look before sending a new one.
		return fmt.Errorf("%w: %s %s: %s %s: the locker stopped while running it and will not run it again (%s)",
			errUnknown, body.Type(), cmd.ID, r.Status, r.Reason, r.Detail)
	case r.Status != protocol.StatusDone:
		return fmt.Errorf("%s: %s %s (%s)", body.Type(), r.Status, r.Reason, r.Detail)
	case r.Reason == protocol.ReasonPartial:
		return fmt.Errorf("%s: done only in part: some items were refused (see body.items in the reply)", body.Type())
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// parseArgs parses flags that may come before or after the positional arguments
// and checks their number.
func parseArgs(fs *flag.FlagSet, args []string, want int, usage string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %v; %s", errUsage, err, usage)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if want >= 0 && len(pos) != want {
		return nil, fmt.Errorf("%w: %s", errUsage, usage)
	}
	return pos, nil
}

func simple(body func() protocol.Body) subcommand {
	return func(e *env, args []string) error {
		pos, err := parseArgs(flag.NewFlagSet("", flag.ContinueOnError), args, 1, "COMMAND LOCKER")
		if err != nil {
			return err
		}
		return e.do(pos[0], body())
	}
}

func audit(e *env, args []string) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	from := fs.Uint64("from", 1, "first sequence number")
	to := fs.Uint64("to", 0, "last sequence number (0: the newest)")
	limit := fs.Int("limit", 0, "at most this many entries (0: the locker's maximum)")
	pos, err := parseArgs(fs, args, 1, "audit LOCKER [-from N] [-to N] [-limit N]")
	if err != nil {
		return err
	}
	return e.do(pos[0], &protocol.AuditRangeBody{From: *from, To: *to, Limit: *limit})
}

func compartmentNumber(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w: compartment %q: want 1..65535", errUsage, s)
	}
	return uint16(n), nil
}

func open(e *env, args []string) error {
	fs := flag.NewFlagSet("open", flag.ContinueOnError)
	operator := fs.String("operator", "", "your operator id (audited on the locker)")
	reason := fs.String("reason", string(protocol.OpenSupport), "support, maintenance, inspection, retrieval or other")
	const usage = "open LOCKER COMPARTMENT -operator ID [-reason R]"
	pos, err := parseArgs(fs, args, 2, usage)
	if err != nil {
		return err
	}
	n, err := compartmentNumber(pos[1])
	if err != nil {
		return err
	}
	r, err := protocol.ParseOpenReason(*reason)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return e.do(pos[0], &protocol.OpenCompartmentBody{Compartment: n, Reason: r, Operator: *operator})
}

func compartmentOp(body func(n uint16, operator string) protocol.Body) subcommand {
	return func(e *env, args []string) error {
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		operator := fs.String("operator", "", "your operator id (audited on the locker)")
		pos, err := parseArgs(fs, args, 2, "disable|enable LOCKER COMPARTMENT -operator ID")
		if err != nil {
			return err
		}
		n, err := compartmentNumber(pos[1])
		if err != nil {
			return err
		}
		return e.do(pos[0], body(n, *operator))
	}
}

// resolve settles an operation (a deposit, pickup, retrieval or cancel) a restart left
// unverified, once someone has looked: -present or -absent says whether the parcel is inside.
func resolve(e *env, args []string) error {
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	operator := fs.String("operator", "", "your operator id (audited on the locker)")
	present := fs.Bool("present", false, "the parcel was found in the compartment")
	absent := fs.Bool("absent", false, "the compartment was found empty")
	const usage = "resolve LOCKER COMPARTMENT -present|-absent -operator ID"
	pos, err := parseArgs(fs, args, 2, usage)
	if err != nil {
		return err
	}
	if *present == *absent {
		return fmt.Errorf("%w: say -present or -absent; %s", errUsage, usage)
	}
	n, err := compartmentNumber(pos[1])
	if err != nil {
		return err
	}
	return e.do(pos[0], &protocol.ResolveCompartmentBody{Compartment: n, Present: *present, Operator: *operator})
}

func parcelOp(body func(id string) protocol.Body) subcommand {
	return func(e *env, args []string) error {
		pos, err := parseArgs(flag.NewFlagSet("", flag.ContinueOnError), args, 2, "COMMAND LOCKER ID")
		if err != nil {
			return err
		}
		return e.do(pos[0], body(pos[1]))
	}
}

// send sends any command whose body is given as JSON, checked by the protocol's
// strict decoder first.
func send(e *env, args []string) error {
	pos, err := parseArgs(flag.NewFlagSet("send", flag.ContinueOnError), args, 3, "send LOCKER TYPE FILE.json|-")
	if err != nil {
		return err
	}
	typ, err := protocol.ParseCommandType(pos[1])
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	var raw []byte
	if pos[2] == "-" {
		raw, err = io.ReadAll(io.LimitReader(e.stdin, 1<<20))
	} else {
		raw, err = os.ReadFile(pos[2])
	}
	if err != nil {
		return err
	}
	body, err := protocol.DecodeBody(typ, raw)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return e.do(pos[0], body)
}

// events prints events as JSON lines, each id once and in seq order per locker,
// until -n events were printed, -for has passed or the process is interrupted.
func events(e *env, args []string) error {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	n := fs.Int("n", 0, "stop after this many events (0: no limit)")
	dur := fs.Duration("for", 0, "stop after this long (0: until interrupted)")
	lockers, err := parseArgs(fs, args, -1, "events [-n N] [-for DURATION] [LOCKER ...]")
	if err != nil {
		return err
	}
	if *n < 0 || *dur < 0 {
		return fmt.Errorf("%w: -n and -for must not be negative", errUsage)
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	ctx := e.ctx
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	printed := 0
	show := func(ev fleet.Event) error {
		if len(lockers) > 0 && !slices.Contains(lockers, ev.LockerID) {
			return nil
		}
		out := struct {
			Locker string `json:"locker"`
			protocol.Event
		}{ev.LockerID, ev.Event}
		printed++
		return printJSON(e.stdout, out)
	}
	for *n == 0 || printed < *n {
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
				if *n > 0 && printed >= *n {
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

// presence prints a locker's retained presence.
func presence(e *env, args []string) error {
	pos, err := parseArgs(flag.NewFlagSet("presence", flag.ContinueOnError), args, 1, "presence LOCKER")
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	p, err := c.AwaitPresence(ctx, pos[0], func(protocol.Presence) bool { return true })
	if err != nil {
		return fmt.Errorf("no presence retained for %s (never connected, or another prefix)", pos[0])
	}
	return printJSON(e.stdout, p)
}
