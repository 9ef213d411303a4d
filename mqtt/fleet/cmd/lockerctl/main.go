// Command lockerctl is the operator's tool for a fleet of lockers: it signs commands
// with the fleet key, sends them over MQTT through mqtt/fleet and prints the lockers'
// replies, events and presence as tables on a terminal and as JSON lines otherwise.
//
// Its commands, flags, configuration file and exit status are described by
// `lockerctl help [COMMAND]` (or -h on any command) and `man lockerctl`, both generated
// from the definitions in root.go and commands.go (internal/cli).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/lockerd/lockerd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks an error in how lockerctl was called (nothing was sent); errUnknown a
// command sent and not answered in time (its outcome is unknown).
var (
	errUsage   = errors.New("usage")
	errUnknown = errors.New("outcome unknown")
)

// run runs lockerctl and returns its exit status (root.go's exitStatus says which).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runOn(ctx, args, stdin, stdout, stderr, terminals{stdout: isTerminal(stdout), stderr: isTerminal(stderr)})
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// runOn is run with the terminals given (tests force them).
func runOn(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, tty terminals) int {
	err := cli.Execute(ctx, newRoot(stdin, stdout, stderr, tty), args)
	var ue cli.UsageError
	if errors.As(err, &ue) && !errors.Is(err, errUsage) {
		err = fmt.Errorf("%w: %v", errUsage, ue.Err)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "lockerctl:", err)
		return 2
	case errors.Is(err, errUnknown):
		fmt.Fprintln(stderr, "lockerctl:", err)
		return 3
	default:
		fmt.Fprintln(stderr, "lockerctl:", err)
		return 1
	}
}
