package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lockerd/lockerd/internal/cli"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// The subcommands that carry secrets: tracking numbers and pickup codes (announce,
// set-code) and courier badges and PINs (courier-upsert, courier-new: couriers.go). Each is digested with the fleet's
// keys here, on the operator's machine, and only digests are sent (docs/privacy.md).
// announce reads parcels from a CSV file (header parcel,tracking,code,size and an
// optional expires in RFC 3339) and announces them in batches. A bad row stops
// everything before anything is sent, naming the row but not its contents.
func announceCommand(withEnv withEnvFunc) *cobra.Command {
	var batch, parallel int
	c := &cobra.Command{
		Use:   "announce [LOCKER] FILE.csv|-",
		Short: "Announce parcels from a CSV file (sent as digests, in batches)",
		Long: `Announce parcels from a CSV file, or standard input for -: a header row with
parcel, tracking and size, and optionally code, phone, qr and expires (RFC 3339), in
any order. Tracking numbers and codes leave lockerctl only as keyed digests. A bad
row stops everything before anything is sent, naming the row but not its contents.

Without LOCKER, the file has a locker column too and each locker gets its own
parcels (up to --parallel lockers at once): one outcome per locker, a progress bar
on a terminal and a summary. With LOCKER, a locker column may be there, and every
row must name that locker.`,
		Example: `  lockerctl announce LK-0001 parcels.csv
  lockerctl announce round.csv        # header locker,parcel,tracking,size,...`,
		Args: cli.Args(cobra.RangeArgs(1, 2)),
		RunE: withEnv(func(e *env, pos []string) error {
			if len(pos) == 1 {
				return e.announceFleet(pos[0], batch, parallel)
			}
			return e.announce(pos, batch)
		}),
	}
	c.Flags().IntVar(&batch, "batch", protocol.MaxAnnounceBatch, "parcels per command")
	c.Flags().IntVar(&parallel, "parallel", defaultParallel, "without LOCKER: lockers announced to at once")
	return c
}

func (e *env) announce(pos []string, batch int) error {
	if batch < 1 || batch > protocol.MaxAnnounceBatch {
		return fmt.Errorf("%w: --batch must be 1..%d", errUsage, protocol.MaxAnnounceBatch)
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
	// A locker column may be there (a fleet's file cut to one locker): a row for
	// another locker is refused, never announced here.
	rows, err := readParcelRows(in, false, func(l string) (*fleet.Keys, error) {
		if l != "" && l != locker {
			return nil, fmt.Errorf("%w: the row is for locker %s, not %s", errUsage, l, locker)
		}
		return keys, nil
	})
	if err != nil {
		return err
	}
	parcels := make([]protocol.AnnouncedParcel, len(rows))
	for i, r := range rows {
		parcels[i] = r.parcel
	}
	bodies, err := announceBodies(parcels, batch)
	if err != nil {
		return err
	}
	return e.announceBatches(locker, len(parcels), bodies)
}

// announceBodies cuts parcels into announce commands of batch parcels, each checked
// before anything is sent.
func announceBodies(parcels []protocol.AnnouncedParcel, batch int) ([]*protocol.AnnounceBody, error) {
	var bodies []*protocol.AnnounceBody
	for chunk := range slices.Chunk(parcels, batch) {
		b := &protocol.AnnounceBody{Parcels: chunk}
		if err := b.Validate(); err != nil { // checked before anything is sent
			return nil, fmt.Errorf("%w: announce: batch %d: %v", errUsage, len(bodies)+1, err)
		}
		bodies = append(bodies, b)
	}
	return bodies, nil
}

// announceBatches sends the batches in turn, with a progress bar on a terminal, and
// ends with a summary on standard error: parcels announced and refused, commands not
// done.
func (e *env) announceBatches(locker string, total int, bodies []*protocol.AnnounceBody) error {
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionSetVisibility(e.stderrTTY),
		progressbar.OptionSetDescription("announce "+locker),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }))
	var announced, refused, failed, sent int
	summary := func() {
		fmt.Fprintf(e.stderr, "lockerctl: announce %s: %d parcels in %d commands: %d announced, %d refused, %d not sent or not answered; %d of %d commands not done\n",
			locker, total, len(bodies), announced, refused, total-announced-refused, failed, sent)
	}
	for i, b := range bodies {
		if e.ctx.Err() != nil {
			summary()
			return fmt.Errorf("announce: interrupted after %d of %d commands", i, len(bodies))
		}
		r, err := e.send(locker, b)
		if !errors.Is(err, errNotSent) {
			sent++
		}
		_ = bar.Clear() // the reply on a line of its own, then the bar again
		if r != nil {
			if perr := e.print(r); perr != nil {
				return perr
			}
		}
		if r != nil && r.Status == protocol.StatusDone {
			n := len(b.Parcels)
			if res, derr := protocol.DecodeResult(protocol.CmdAnnounce, r.Body); derr == nil {
				for _, it := range res.(*protocol.AnnounceResult).Items {
					if it.Status != protocol.StatusDone {
						n--
					}
				}
			}
			announced += n
			refused += len(b.Parcels) - n
		} else if r != nil && r.Status != protocol.StatusUnknown {
			refused += len(b.Parcels)
		}
		_ = bar.Add(len(b.Parcels))
		switch {
		case errors.Is(err, errUnknown), errors.Is(err, errNotSent):
			summary()
			return fmt.Errorf("%w (command %d of %d; the rest not sent)", err, i+1, len(bodies))
		case err != nil:
			fmt.Fprintln(e.stderr, "lockerctl:", err)
			failed++
		}
	}
	summary()
	if failed > 0 {
		return fmt.Errorf("announce: %d of %d commands not done (see their replies)", failed, len(bodies))
	}
	return nil
}

func readParcels(in io.Reader, keys *fleet.Keys) ([]protocol.AnnouncedParcel, error) {
	rows, err := readParcelRows(in, false, func(string) (*fleet.Keys, error) { return keys, nil })
	if err != nil {
		return nil, err
	}
	out := make([]protocol.AnnouncedParcel, len(rows))
	for i, r := range rows {
		out[i] = r.parcel
	}
	return out, nil
}

// parcelRow is a parcel read from a CSV file, and its locker when the file has a
// locker column (an announce to many lockers).
type parcelRow struct {
	locker string
	parcel protocol.AnnouncedParcel
}

// readParcelRows reads announce's CSV; byLocker asks for a locker column, and each row
// is digested with keysFor of its locker.
func readParcelRows(in io.Reader, byLocker bool, keysFor func(locker string) (*fleet.Keys, error)) ([]parcelRow, error) {
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
	seen := map[string]int{} // locker and parcel id -> line
	for _, need := range []string{"parcel", "tracking", "size"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%w: announce: the header needs parcel, tracking and size (and optionally code and phone, qr, expires)", errUsage)
		}
	}
	if _, ok := col["locker"]; byLocker && !ok {
		return nil, fmt.Errorf("%w: announce FILE without LOCKER: the header needs a locker column", errUsage)
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []parcelRow
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
		locker := field(rec, "locker")
		if byLocker && !protocol.ValidID(locker) {
			return nil, fmt.Errorf("%w: announce: line %d: not a locker id", errUsage, row)
		}
		keys, err := keysFor(locker)
		if err != nil {
			return nil, fmt.Errorf("announce: line %d: %w", row, err)
		}
		// The error of Parcel may quote its input; the row number is enough.
		s := fleet.Secrets{Code: field(rec, "code"), Phone: field(rec, "phone"), QR: field(rec, "qr")}
		p, err := keys.Parcel(field(rec, "parcel"), field(rec, "tracking"), s, size, expires)
		if err != nil {
			return nil, fmt.Errorf("%w: announce: line %d: not a valid tracking number, code with phone digits, or QR secret", errUsage, row)
		}
		if err := (&protocol.AnnounceBody{Parcels: []protocol.AnnouncedParcel{p}}).Validate(); err != nil {
			return nil, fmt.Errorf("%w: announce: line %d: %v", errUsage, row, err)
		}
		if first, dup := seen[locker+"/"+p.Parcel]; dup {
			return nil, fmt.Errorf("%w: announce: line %d repeats the parcel id of line %d", errUsage, row, first)
		}
		seen[locker+"/"+p.Parcel] = row
		out = append(out, parcelRow{locker, p})
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

func setCodeCommand(withEnv withEnvFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "set-code LOCKER PARCEL",
		Short: "Set a parcel's pickup code (code, then the phone's last four digits, on standard input)",
		Args:  cli.Args(cobra.ExactArgs(2)),
		RunE:  withEnv(func(e *env, pos []string) error { return e.setCode(pos) }),
	}
}

func (e *env) setCode(pos []string) error {
	keys, err := e.cfg.keys(pos[0])
	if err != nil {
		return err
	}
	lines, err := e.secretLines(2, "the pickup code and the phone's last four digits")
	if err != nil {
		return err
	}
	v, err := keys.CodeVerifier2(lines[0], lines[1])
	if err != nil {
		return fmt.Errorf("%w: set-code: not a pickup code (%d-%d digits) and four phone digits", errUsage, privacy.MinCodeLen, privacy.MaxCodeLen)
	}
	return e.do(pos[0], &protocol.SetVerifierBody{Parcel: pos[1], CodeVerifier: &v})
}
