package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func lockerctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCommandLine: help on every level exits 0 and comes from the command
// definitions; usage errors keep exit status 2, with nothing sent (the broker in
// these calls does not exist: anything that tried would exit 1).
func TestCommandLine(t *testing.T) {
	cfg := testConfig(t, "")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"-h", []string{"-h"}, 0, "Commands sent to a locker:\n  announce", ""},
		{"help", []string{"help"}, 0, "\n  keygen ", ""},
		{"help announce", []string{"help", "announce"}, 0, "lockerctl announce [LOCKER] FILE.csv|- [flags]", ""},
		{"help announce: its flag", []string{"help", "announce"}, 0, "--batch int", ""},
		{"open -h", []string{"open", "-h"}, 0, "--operator ID", ""},
		{"events -h: -n", []string{"events", "-h"}, 0, "-n, --count", ""},
		{"--version", []string{"--version"}, 0, version + "\n", ""},
		{"version", []string{"version"}, 0, version + "\n", ""},
		{"no command", []string{"-config", cfg}, 2, "", "lockerctl: usage: lockerctl COMMAND"},
		{"unknown command", []string{"-config", cfg, "frobnicate", "L1"}, 2, "", `lockerctl: usage: unknown command "frobnicate"`},
		{"unknown flag", []string{"-config", cfg, "ping", "L1", "--frob"}, 2, "", "lockerctl: usage: unknown flag: --frob"},
		{"missing argument", []string{"-config", cfg, "ping"}, 2, "", "usage: lockerctl ping LOCKER"},
		{"bad number", []string{"-config", cfg, "audit", "L1", "-from", "x"}, 2, "", "lockerctl: usage: invalid argument"},
		{"unreachable broker", []string{"-config", cfg, "ping", "L1"}, 1, "", "lockerctl: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := lockerctl(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
				t.Errorf("lockerctl %q: exit %d, stdout %q, stderr %q; want %d, %q and %q", tc.args, code, out, errOut, tc.code, tc.out, tc.err)
			}
		})
	}
}

// TestManAndCompletion: `lockerctl man DIR` (make man) writes a page per command,
// and each shell's completion script is generated, from the same definitions.
func TestManAndCompletion(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := lockerctl(t, "man", dir); code != 0 {
		t.Fatalf("lockerctl man: exit %d: %s", code, errOut)
	}
	for page, want := range map[string]string{
		"lockerctl.1":          "Exit status: 0 when the locker answered done",
		"lockerctl-announce.1": "\\fB--batch\\fP=100",
		"lockerctl-open.1":     "\\fB--reason\\fP=\"support\"",
	} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", page, want)
		}
	}
	for shell, want := range map[string]string{
		"bash": "__start_lockerctl",
		"zsh":  "#compdef lockerctl",
		"fish": "complete -c lockerctl ",
	} {
		code, out, _ := lockerctl(t, "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, script lacks %q", shell, code, want)
		}
	}
	if _, out, _ := lockerctl(t, "__complete", "open", "L1", "3", "--reason", ""); !strings.Contains(out, "maintenance\n") {
		t.Errorf("completing --reason: %q", out)
	}
}
