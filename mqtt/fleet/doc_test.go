package fleet_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

const protocolDoc = "../../docs/protocol.md"

// docBlocks returns the fenced blocks of the document that follow a
// "<!-- kind: name -->" marker, by name.
func docBlocks(t *testing.T, doc, kind string) map[string]string {
	t.Helper()
	re := regexp.MustCompile("(?s)<!-- " + kind + ": ([a-z-]+) -->\n```[a-z]*\n(.*?)```")
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(doc, -1) {
		if _, dup := out[m[1]]; dup {
			t.Fatalf("%s %q appears twice in %s", kind, m[1], protocolDoc)
		}
		out[m[1]] = m[2]
	}
	return out
}

// TestProtocolDocExamples runs the shell examples of docs/protocol.md with
// openssl, mosquitto_pub and mosquitto_sub against mosquitto and a real
// device link, and compares what they print with the output the document
// shows ("…" in the document matches any value).
func TestProtocolDocExamples(t *testing.T) {
	for _, tool := range []string{"openssl", "mosquitto_pub", "mosquitto_sub", "bash"} {
		testenv.LookPath(t, tool)
	}
	raw, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	examples, outputs := docBlocks(t, string(raw), "example"), docBlocks(t, string(raw), "output")
	runs := []string{"ping", "refused", "events", "presence"}
	for _, name := range append([]string{"keygen", "sign"}, runs...) {
		if examples[name] == "" {
			t.Fatalf("example %q missing from %s", name, protocolDoc)
		}
	}

	f := fixture.New(t, fixture.Options{NoLink: true})
	dir := t.TempDir()
	cert, key := f.Broker.ClientCertFiles("cloud-tls")
	env := append(os.Environ(),
		fmt.Sprintf("MQTT=-h 127.0.0.1 -p %d --cafile %s --cert %s --key %s", f.Broker.TLSPort(), f.Broker.CAFile(), cert, key),
		"LOCKER="+fixture.Locker, "HOME="+dir)
	ctx := testenv.Context(t, 90*time.Second)
	shell := func(script string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("example failed: %v\n%s\n%s\nbroker log:\n%s", err, out, stderr, f.Broker.Log())
		}
		return string(out)
	}

	shell(examples["keygen"])
	pub := readEd25519Public(t, filepath.Join(dir, "fleet.pub.pem"))
	f.Handler.Func = func(_ context.Context, cmd *protocol.Command) link.Result {
		switch b := cmd.Parsed.(type) {
		case *protocol.PingBody:
			return link.Done(protocol.PingResult{Time: time.Now().UTC(), Boot: "doc-boot"})
		case *protocol.OpenCompartmentBody:
			_, err := f.Outbox.Add(protocol.EvUnlocked, time.Now(), &protocol.DoorEvent{
				Compartment: b.Compartment, Op: protocol.OpOperator, Actor: b.Operator, Command: cmd.Jti,
			})
			if err != nil {
				return link.Result{Status: protocol.StatusFailed, Reason: protocol.ReasonInternal}
			}
			return link.Done(nil)
		}
		return link.Result{Status: protocol.StatusRefused, Reason: protocol.ReasonNotSupported}
	}
	f.StartLink(t, func(c *link.Config) { c.FleetKeys = []ed25519.PublicKey{pub} })

	var script strings.Builder
	script.WriteString(examples["sign"])
	for _, name := range runs {
		fmt.Fprintf(&script, "\necho '### %s'\n%s", name, examples[name])
	}
	sections := splitSections(shell(script.String()))
	for _, name := range runs {
		t.Run(name, func(t *testing.T) {
			want := nonEmptyLines(outputs[name])
			got := sections[name]
			if len(got) != len(want) {
				t.Fatalf("printed %d lines, the document shows %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
			}
			for i := range want {
				var w, g any
				if err := json.Unmarshal([]byte(want[i]), &w); err != nil {
					t.Fatalf("document output line %d is not JSON: %v", i+1, err)
				}
				if err := json.Unmarshal([]byte(got[i]), &g); err != nil {
					t.Fatalf("printed line %d is not JSON: %q", i+1, got[i])
				}
				if !matches(w, g) {
					t.Fatalf("line %d:\nprinted  %s\ndocument %s", i+1, got[i], want[i])
				}
			}
		})
	}
}

// matches compares a decoded document value with a printed one: the string
// "…" matches anything; objects need the same members.
func matches(want, got any) bool {
	if s, ok := want.(string); ok && s == "…" {
		return true
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !matches(wv, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !matches(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want, got)
}

func splitSections(out string) map[string][]string {
	sections := map[string][]string{}
	current := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "### "); ok {
			current = name
			continue
		}
		if strings.TrimSpace(line) != "" && current != "" {
			sections[current] = append(sections[current], line)
		}
	}
	return sections
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

func readEd25519Public(t *testing.T, path string) ed25519.PublicKey {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		t.Fatalf("%s holds a %T, not an Ed25519 key", path, k)
	}
	return pub
}
