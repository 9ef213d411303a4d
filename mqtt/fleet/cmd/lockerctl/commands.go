package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

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
	"courier-upsert": courierUpsert,
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

// announce reads parcels from a CSV file (header parcel,tracking,code,size and an
// optional expires in RFC 3339) and announces them in batches. A bad row stops
// everything before anything is sent, naming the row but not its contents.
func announce(e *env, args []string) error {
	fs := flag.NewFlagSet("announce", flag.ContinueOnError)
	batch := fs.Int("batch", protocol.MaxAnnounceBatch, "parcels per command")
	pos, err := parseArgs(fs, args, 2, "announce LOCKER FILE.csv|- [-batch N]")
	if err != nil {
		return err
	}
	if *batch < 1 || *batch > protocol.MaxAnnounceBatch {
		return fmt.Errorf("%w: -batch must be 1..%d", errUsage, protocol.MaxAnnounceBatch)
	}
	locker := pos[0]
	keys, err := e.cfg.keys(locker)
	if err != nil {
		return err
	}
	in := e.stdin
	if pos[1] != "-" {
		f, err := os.Open(pos[1])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	parcels, err := readParcels(in, keys)
	if err != nil {
		return err
	}
	var bodies []*protocol.AnnounceBody
	for chunk := range slices.Chunk(parcels, *batch) {
		b := &protocol.AnnounceBody{Parcels: chunk}
		if err := b.Validate(); err != nil { // checked before anything is sent
			return fmt.Errorf("%w: announce: batch %d: %v", errUsage, len(bodies)+1, err)
		}
		bodies = append(bodies, b)
	}
	failed := 0
	for i, b := range bodies {
		if e.ctx.Err() != nil {
			return fmt.Errorf("announce: interrupted after %d of %d commands", i, len(bodies))
		}
		err := e.do(locker, b)
		switch {
		case errors.Is(err, errUnknown):
			return fmt.Errorf("%w (command %d of %d; the rest not sent)", err, i+1, len(bodies))
		case err != nil:
			fmt.Fprintln(e.stderr, "lockerctl:", err)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("announce: %d of %d commands not done (see their replies)", failed, len(bodies))
	}
	return nil
}

func readParcels(in io.Reader, keys *fleet.Keys) ([]protocol.AnnouncedParcel, error) {
	br := bufio.NewReader(in)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		br.Discard(3) // the byte order mark spreadsheets write, before any quoting
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: announce: header: %v", errUsage, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(strings.ToLower(h))] = i
	}
	seen := map[string]int{} // parcel id -> line
	for _, need := range []string{"parcel", "tracking", "size"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%w: announce: the header needs parcel, tracking and size (and optionally code, expires)", errUsage)
		}
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []protocol.AnnouncedParcel
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w: announce: line %d: malformed CSV", errUsage, pe.StartLine)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: announce: %v", errUsage, err)
		}
		// Rows are named by their line in the file (blank lines and quoted line
		// breaks included), as an editor shows it.
		row, _ := r.FieldPos(0)
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue // an empty row, as spreadsheets export at the end
		}
		// Errors name the row, never quote it: a shifted column can put a code where the
		// size belongs.
		size, err := protocol.ParseSize(field(rec, "size"))
		if err != nil {
			return nil, fmt.Errorf("%w: announce: line %d: size must be S, M, L or XL", errUsage, row)
		}
		var expires time.Time
		if s := field(rec, "expires"); s != "" {
			if expires, err = time.Parse(time.RFC3339, s); err != nil {
				return nil, fmt.Errorf("%w: announce: line %d: expires is not RFC 3339", errUsage, row)
			}
		}
		// The error of Parcel may quote its input; the row number is enough.
		p, err := keys.Parcel(field(rec, "parcel"), field(rec, "tracking"), field(rec, "code"), size, expires)
		if err != nil {
			return nil, fmt.Errorf("%w: announce: line %d: not a valid tracking number or code", errUsage, row)
		}
		if err := (&protocol.AnnounceBody{Parcels: []protocol.AnnouncedParcel{p}}).Validate(); err != nil {
			return nil, fmt.Errorf("%w: announce: line %d: %v", errUsage, row, err)
		}
		if first, dup := seen[p.Parcel]; dup {
			return nil, fmt.Errorf("%w: announce: line %d repeats the parcel id of line %d", errUsage, row, first)
		}
		seen[p.Parcel] = row
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: announce: no parcels", errUsage)
	}
	return out, nil
}

// secretLines reads n lines from standard input (codes, badge tokens, PINs), without
// echo when it is a terminal.
func (e *env) secretLines(n int, what string) ([]string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var out []string
		for len(out) < n {
			fmt.Fprintf(e.stderr, "%s (%d of %d, not shown): ", what, len(out)+1, n)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(e.stderr)
			if err != nil {
				return nil, err
			}
			out = append(out, strings.TrimSpace(string(b)))
		}
		return out, nil
	}
	sc := bufio.NewScanner(e.stdin)
	var out []string
	for len(out) < n && sc.Scan() {
		out = append(out, strings.TrimSpace(sc.Text()))
	}
	if len(out) < n {
		return nil, fmt.Errorf("%w: want %s on standard input", errUsage, what)
	}
	return out, nil
}

func setCode(e *env, args []string) error {
	pos, err := parseArgs(flag.NewFlagSet("set-code", flag.ContinueOnError), args, 2, "set-code LOCKER PARCEL (code on standard input)")
	if err != nil {
		return err
	}
	keys, err := e.cfg.keys(pos[0])
	if err != nil {
		return err
	}
	lines, err := e.secretLines(1, "the pickup code")
	if err != nil {
		return err
	}
	v, err := keys.CodeVerifier(lines[0])
	if err != nil {
		return fmt.Errorf("%w: set-code: not a pickup code (%d-%d digits)", errUsage, 6, 8)
	}
	return e.do(pos[0], &protocol.SetVerifierBody{Parcel: pos[1], Verifier: v})
}

func courierUpsert(e *env, args []string) error {
	fs := flag.NewFlagSet("courier-upsert", flag.ContinueOnError)
	rights := fs.String("rights", string(protocol.RightDeposit), "comma-separated: deposit, retrieve")
	pos, err := parseArgs(fs, args, 2, "courier-upsert LOCKER COURIER -rights deposit[,retrieve] (badge token, then PIN, on standard input)")
	if err != nil {
		return err
	}
	var rs []protocol.Right
	for _, s := range strings.Split(*rights, ",") {
		r, err := protocol.ParseRight(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		rs = append(rs, r)
	}
	keys, err := e.cfg.keys(pos[0])
	if err != nil {
		return err
	}
	lines, err := e.secretLines(2, "the badge token and the PIN, one per line")
	if err != nil {
		return err
	}
	// What a locker's panel can ever match: the token as the badge QR carries it
	// after its "LKB:" prefix, at most 128 bytes; a PIN of 4-12 digits (the keypad
	// keeps no more). Anything else would be stored, and every login would fail and
	// count against the locker's courier throttle.
	badge := strings.TrimPrefix(lines[0], "LKB:")
	if badge == "" || len(badge) > 128 || len(lines[1]) < 4 || len(lines[1]) > 12 || strings.Trim(lines[1], "0123456789") != "" {
		return fmt.Errorf("%w: courier-upsert: want a badge token (1-128 bytes, without its LKB: prefix) and a PIN of 4-12 digits", errUsage)
	}
	lines[0] = badge
	return e.do(pos[0], &protocol.CourierUpsertBody{Courier: pos[1], Credential: keys.CourierCredential(lines[0], lines[1]), Rights: rs})
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
