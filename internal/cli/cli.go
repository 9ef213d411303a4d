// Package cli holds the command-line conventions lockerd and lockerctl share, on
// spf13/cobra: subcommands with -h each, `help`, `--version`, man pages and shell
// completion generated from the same command definitions (a hidden `man DIR`
// subcommand and cobra's `completion` command, run by `make man` and `make completion`),
// and the single-dash long flags (`-config FILE`) that scripts written for the earlier
// flag-package interface still pass.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// Configure applies the shared settings to root once its subcommands are added:
// errors are printed by the caller (which chooses the exit status), not by cobra, and
// usage is printed only for a usage error, never after a failure of the command itself;
// `--version` prints the bare version, as the version subcommand does; the hidden
// `man DIR` command writes the man pages.
func Configure(root *cobra.Command, out, errOut io.Writer) {
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetOut(out)
	root.SetErr(errOut)
	// No "generated on DATE" line in the man pages and docs: the same sources give
	// the same files.
	root.DisableAutoGenTag = true
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return UsageError{fmt.Errorf("%v (see %s -h)", err, c.CommandPath())}
	})
	root.AddCommand(manCommand(root))
}

// UsageError is an error in how the command was called: an unknown command or flag, a
// wrong number of arguments. Nothing was done.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Args wraps a positional-argument check so that its failure is a UsageError
// naming the command's usage line.
func Args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return UsageError{fmt.Errorf("%v; usage: %s", err, c.UseLine())}
		}
		return nil
	}
}

// Execute runs root with args (without the program name), single-dash long flags
// rewritten first. Unknown commands are usage errors.
func Execute(ctx context.Context, root *cobra.Command, args []string) error {
	root.SetArgs(LongFlags(root, args))
	c, err := root.ExecuteContextC(ctx)
	if err != nil && c != nil && isCobraUsage(err) {
		return UsageError{err}
	}
	return err
}

// isCobraUsage recognises the errors cobra raises itself for a call it cannot
// dispatch (it has no error types for them).
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag") || strings.HasPrefix(msg, "invalid argument ")
}

// LongFlags rewrites `-name` and `-name=value` to their double-dash form where name is
// a long flag of root or of one of its subcommands and longer than one letter: the
// earlier interface used Go's flag package, where one dash is the norm, and the
// systemd unit, scripts and operators' habits use it. Anything else (a shorthand, `-`
// for standard input, a negative number, an argument after `--`) is left alone.
func LongFlags(root *cobra.Command, args []string) []string {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 && names[name] {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// manCommand writes one man page per command (section 1) to a directory. Hidden: it
// is for the build (make man), not the operator.
func manCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages to DIR",
		Hidden: true,
		Args:   Args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			// The date comes from SOURCE_DATE_EPOCH when set (reproducible builds).
			return doc.GenManTree(root, &doc.GenManHeader{
				Section: "1",
				Source:  root.Name() + " " + root.Version,
				Manual:  "lockerd manual",
			}, args[0])
		},
	}
}
