package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// A command to many lockers (--lockers FILE): sent to each in parallel, its outcome
// printed per locker, a summary on standard error and a progress bar there on a
// terminal.

// defaultParallel bounds the commands awaiting a reply at once.
const defaultParallel = 32

// Outcomes of a command sent to one of many lockers.
const (
	outcomeDone    = "done"            // the final reply said done
	outcomeRefused = "refused"         // a final reply other than done (refused, failed)
	outcomeOffline = "offline"         // not sent: offline (--wait sends)
	outcomeNever   = "never_connected" // not sent: no presence retained
	outcomeNoReply = "no_reply"
	outcomeError   = "error" // could not be sent
)

// lockerOutcome is one locker's outcome of a command to many: one JSON line each, or a
// row of a table.
type lockerOutcome struct {
	Locker  string          `json:"locker"`
	Outcome string          `json:"outcome"`
	Error   string          `json:"error,omitempty"`
	Reply   *protocol.Reply `json:"reply,omitempty"`
	// An announce to many lockers: the parcels announced and those refused.
	Announced *int                  `json:"announced,omitempty"`
	Refused   []protocol.ItemResult `json:"refused,omitempty"`
}

// manyOutcomes are the outcomes of a command to many lockers, in the file's order.
type manyOutcomes []lockerOutcome

// lockersFlag adds --lockers and --parallel to a command that can go to many lockers.
func lockersFlag(c *cobra.Command, file *string, parallel *int) {
	c.Flags().StringVar(file, "lockers", "", "send to every locker listed in `FILE` (one id a line, # comments; - for standard input) instead of LOCKER")
	c.Flags().IntVar(parallel, "parallel", defaultParallel, "with --lockers: commands awaiting a reply at once")
}

// oneOrMany checks that a command names LOCKER or --lockers, not both; useLine is the
// command's usage line, for the error.
func oneOrMany(args []string, file, useLine string) error {
	if (file == "") == (len(args) == 0) {
		return fmt.Errorf("%w: %s (a LOCKER or --lockers FILE)", errUsage, useLine)
	}
	return nil
}

// readLockers reads locker ids, one a line; blank lines and # comments are skipped,
// and an id given twice is refused (it would get the command twice).
func readLockers(in io.Reader) ([]string, error) {
	var ids []string
	seen := map[string]int{}
	sc := bufio.NewScanner(in)
	for n := 1; sc.Scan(); n++ {
		id, _, _ := strings.Cut(sc.Text(), "#")
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		if !protocol.ValidID(id) {
			return nil, fmt.Errorf("%w: --lockers: line %d: not a locker id", errUsage, n)
		}
		if first, dup := seen[id]; dup {
			return nil, fmt.Errorf("%w: --lockers: line %d repeats %s of line %d", errUsage, n, id, first)
		}
		seen[id] = n
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--lockers: %w", err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: --lockers: no locker ids", errUsage)
	}
	return ids, nil
}

// many sends the command body() makes to every locker of file and prints each one's
// outcome. It exits 0 when every locker answered done, 3 when some did not answer (its
// outcome unknown), 1 otherwise.
func (e *env) many(file string, parallel int, body func() protocol.Body) error {
	if parallel < 1 {
		return fmt.Errorf("%w: --parallel must be at least 1", errUsage)
	}
	in := e.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	ids, err := readLockers(in)
	if err != nil {
		return err
	}
	b := body()
	if err := b.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return e.eachLocker(ids, parallel, string(b.Type()), len(ids), func(id string, step func(int)) lockerOutcome {
		defer step(1)
		return e.outcome(id, body())
	})
}

// eachLocker runs one(id) for every locker, up to parallel at once, with a progress
// bar of total steps on a terminal (one calls step as it goes), prints each outcome
// (JSON lines as they come, or a table at the end) and a summary, and returns the
// exit: 0 when every locker is done, 3 when some did not answer in time, else 1.
func (e *env) eachLocker(ids []string, parallel int, what string, total int, one func(id string, step func(int)) lockerOutcome) error {
	if _, err := e.connect(); err != nil { // once, before anything: a broker down is one error
		return err
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionSetVisibility(e.stderrTTY),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }))
	out := make(manyOutcomes, len(ids))
	var mu sync.Mutex // the bar and, in JSON mode, standard output
	step := func(n int) {
		mu.Lock()
		_ = bar.Add(n)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	var printErr error
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o := one(id, step)
			mu.Lock()
			defer mu.Unlock()
			out[i] = o
			if e.output != outputTable && printErr == nil {
				_ = bar.Clear()
				printErr = e.print(o) // as they come: a script sees progress too
			}
		})
	}
	wg.Wait()
	if printErr != nil {
		return printErr
	}
	if e.output == outputTable {
		if err := e.print(out); err != nil {
			return err
		}
	}
	count := map[string]int{}
	for _, o := range out {
		count[o.Outcome]++
	}
	var parts []string
	for _, k := range []string{outcomeDone, outcomeRefused, outcomeOffline, outcomeNever, outcomeNoReply, outcomeError} {
		if count[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[k], strings.ReplaceAll(k, "_", " ")))
		}
	}
	fmt.Fprintf(e.stderr, "lockerctl: %s to %d lockers: %s\n", what, len(ids), strings.Join(parts, ", "))
	switch {
	case count[outcomeNoReply] > 0:
		return fmt.Errorf("%w: %d lockers did not answer in time; they may still run it until it expires", errUnknown, count[outcomeNoReply])
	case count[outcomeDone] < len(ids):
		return fmt.Errorf("%s: %d of %d lockers not done", what, len(ids)-count[outcomeDone], len(ids))
	}
	return nil
}

// outcome sends body to one locker and says how it went.
func (e *env) outcome(id string, body protocol.Body) lockerOutcome {
	r, err := e.send(id, body)
	o := lockerOutcome{Locker: id, Reply: r, Outcome: outcomeDone}
	switch {
	case errors.Is(err, errNeverConnected):
		o.Outcome = outcomeNever
	case errors.Is(err, errNotSent):
		o.Outcome = outcomeOffline
	case errors.Is(err, errUnknown) && r == nil:
		o.Outcome = outcomeNoReply
	case r != nil && r.Status != protocol.StatusDone:
		o.Outcome = outcomeRefused
	case err != nil && r == nil:
		o.Outcome = outcomeError
	}
	if err != nil {
		o.Error = strings.TrimPrefix(err.Error(), errNotSent.Error()+": ")
	}
	return o
}

// manyTable writes one row per locker: its outcome and what the reply says.
func manyTable(w io.Writer, v manyOutcomes) error {
	tw := newTab(w)
	fmt.Fprintln(tw, "LOCKER\tOUTCOME\tDETAIL")
	for _, o := range slices.Clone(v) {
		detail := o.Error
		switch {
		case o.Announced != nil && o.Error == "":
			detail = fmt.Sprintf("%d parcels announced", *o.Announced)
		case o.Reply != nil && o.Error == "":
			detail = replySummary(o.Reply)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Locker, o.Outcome, dash(detail))
	}
	return tw.Flush()
}

// replySummary is a done reply's body in a few words, for a row of a table.
func replySummary(r *protocol.Reply) string {
	res, err := protocol.DecodeResult(r.Typ, r.Body)
	if err != nil {
		return ""
	}
	switch res := res.(type) {
	case *protocol.StatusResult:
		return fmt.Sprintf("version %s, %d parcels, %d of %d compartments free, outbox %d", res.Version, res.Parcels, res.Free, res.Compartments, res.Outbox)
	case *protocol.InventoryResult:
		parcels := 0
		for _, c := range res.Compartments {
			parcels += len(c.Parcels)
		}
		return fmt.Sprintf("%d compartments, %d parcels", len(res.Compartments), parcels)
	case *protocol.PingResult:
		return "clock " + when(res.Time)
	}
	return ""
}
