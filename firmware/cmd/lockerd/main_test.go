package main

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
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

// TestUpdateVerify: the root installer's call (lockerd-update.sh runs `lockerd update
// verify -spool S -copy D -installed V`) takes its one-dash flags, answers a refusal
// with "refused REASON" on standard output and exit status 3, and any other failure
// with exit status 1.
func TestUpdateVerify(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lockerd.yaml")
	example, err := os.ReadFile("../../config/testdata/pi4-two-cu16.yaml")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	body := strings.Replace(string(example), "state_dir: /var/lib/lockerd", "state_dir: "+state, 1)
	// The example's placeholder fleet keys are refused: a fleet's own, as keygen makes them.
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(body, "\n") {
		if k, _, ok := strings.Cut(l, "x25519_public:"); ok && !strings.Contains(k, "ed") {
			l = k + "x25519_public: " + hex.EncodeToString(x.PublicKey().Bytes())
		} else if k, _, ok := strings.Cut(l, "ed25519_public:"); ok {
			l = k + "ed25519_public: " + hex.EncodeToString(ed)
		}
		lines = append(lines, l)
	}
	body = strings.Join(lines, "\n")
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(dir, "spool")
	args := []string{"-config", cfg, "update", "verify", "-spool", spool, "-copy", filepath.Join(dir, "new.deb"), "-installed", "1.0"}
	code, out, errOut := lockerd(t, args...)
	if code != 3 || out != "refused no_release_key\n" {
		t.Fatalf("no release key pinned: exit %d, stdout %q, stderr %q; want 3 and \"refused no_release_key\"", code, out, errOut)
	}
	withKey := body + "\nupdate:\n  release_keys: [62a611b472d89b0e5fc93c069b9f700b4c552d55bc0e87b56008ef17b6b2bebe]\n"
	if err := os.WriteFile(cfg, []byte(withKey), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := lockerd(t, args...); code != 1 || out != "" || !strings.Contains(errOut, "lockerd:") {
		t.Fatalf("nothing spooled: exit %d, stdout %q, stderr %q; want 1 and an error", code, out, errOut)
	}
	if code, _, errOut := lockerd(t, "update", "verify"); code != 1 || !strings.Contains(errOut, `required flag(s) "copy", "installed" not set`) {
		t.Fatalf("no flags: exit %d, stderr %q", code, errOut)
	}
}
