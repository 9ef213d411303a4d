package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/firmware"
)

// lockerd runs the command line in process and returns its exit status and output.
func lockerd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCommandLine: help lists the commands and exits 0, an unknown command is named
// as one (not a missing configuration), and the exit status of a failure is 1 as
// before the commands moved to cobra.
func TestCommandLine(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.yaml")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string // substrings of standard output and standard error
	}{
		{"-h lists the commands", []string{"-h"}, 0, "Available Commands:\n  audit", ""},
		{"-h names check", []string{"-h"}, 0, "\n  check ", ""},
		{"help", []string{"help"}, 0, "\n  hwtest ", ""},
		{"help check", []string{"help", "check"}, 0, "--offline", ""},
		{"check -h", []string{"check", "-h"}, 0, "lockerd check [flags]", ""},
		{"--version", []string{"--version"}, 0, firmware.Version + "\n", ""},
		{"version", []string{"version"}, 0, firmware.Version + "\n", ""},
		{"unknown command", []string{"-config", missing, "foo"}, 1, "", `lockerd: unknown command "foo" for "lockerd"`},
		{"a typo", []string{"chek"}, 1, "", "Did you mean this?\n\tcheck"},
		{"unknown flag", []string{"check", "--frob"}, 1, "", "unknown flag: --frob"},
		{"extra argument", []string{"check", "extra"}, 1, "", "usage: lockerd check [flags]"},
		{"missing config, one-dash flag", []string{"-config", missing, "check"}, 1, "", "lockerd: config: open " + missing},
		{"missing config, run by default", []string{"--config", missing}, 1, "", "lockerd: config: open " + missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := lockerd(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
				t.Errorf("lockerd %q: exit %d, stdout %q, stderr %q; want %d, %q and %q", tc.args, code, out, errOut, tc.code, tc.out, tc.err)
			}
		})
	}
}

// TestManPages: `lockerd man DIR` (make man) writes a page per command from the same
// definitions as -h, flags included, and no page for the hidden man command.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := lockerd(t, "man", dir); code != 0 {
		t.Fatalf("lockerd man: exit %d: %s", code, errOut)
	}
	for page, want := range map[string]string{
		"lockerd.1":        "lockerd - The parcel-locker controller daemon",
		"lockerd-check.1":  "\\fB--offline\\fP",
		"lockerd-run.1":    "READY=1",
		"lockerd-hwtest.1": ".SH SYNOPSIS",
	} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q:\n%s", page, want, b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "lockerd-man.1")); err == nil {
		t.Error("the hidden man command has a page")
	}
}

// TestCompletion: the completion scripts (make completion) come from the same
// definitions: each shell's script is generated, and cobra's completion engine,
// which they call, offers the subcommands and check's flags.
func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "complete -o default -F __start_lockerd lockerd",
		"zsh":  "#compdef lockerd",
		"fish": "complete -c lockerd ",
	} {
		code, out, errOut := lockerd(t, "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, stderr %q; script lacks %q", shell, code, errOut, want)
		}
		// Each script parses in its shell, where the shell is installed (bash is).
		if sh, err := exec.LookPath(shell); err == nil || shell == "bash" {
			script := filepath.Join(t.TempDir(), "completion."+shell)
			if err := os.WriteFile(script, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			if sh == "" {
				sh = "bash"
			}
			if o, err := exec.Command(sh, "-n", script).CombinedOutput(); err != nil {
				t.Errorf("%s -n on the %s completion: %v\n%s", shell, shell, err, o)
			}
		}
	}
	// What the scripts ask the binary for when the user presses Tab.
	if _, out, _ := lockerd(t, "__complete", ""); !strings.Contains(out, "check\t") || !strings.Contains(out, "hwtest\t") {
		t.Errorf("completing a command: %q", out)
	}
	if _, out, _ := lockerd(t, "__complete", "check", "--"); !strings.Contains(out, "--offline\t") {
		t.Errorf("completing check's flags: %q", out)
	}
}
