package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/lockerd/lockerd/mqtt/mqtttest"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

var jsonFrom = flag.String("json-golden-from", "", "write testdata/json-*.golden from this lockerctl `binary` (one built before tables existed)")

// Command ids and refs are random; everything else in these replies is fixed.
var (
	randomID  = regexp.MustCompile(`"id":"[0-9a-f]{32}"`)
	randomRef = regexp.MustCompile(`"ref":"[A-Za-z0-9_-]{43}"`)
)

// TestJSONAsBefore: through a real broker, what lockerctl prints into a pipe (and with
// --json on a terminal) is byte for byte what lockerctl printed before tables existed.
// testdata/json-*.golden were written by the lockerctl of commit d0300a9 (the cobra
// merge, before this work) on these same inputs:
//
//	git archive d0300a9 | tar -x -C /tmp/old && (cd /tmp/old && go build -o /tmp/lockerctl-old ./mqtt/fleet/cmd/lockerctl)
//	go test -run TestJSONAsBefore -json-golden-from /tmp/lockerctl-old ./mqtt/fleet/cmd/lockerctl
func TestJSONAsBefore(t *testing.T) {
	b, cfg := fakeSetup(t)
	results := map[string]any{}
	for _, tc := range tableCases() {
		if r, ok := tc.v.(*protocol.Reply); ok && r.Status == protocol.StatusDone && len(r.Body) > 0 {
			var res any
			_ = json.Unmarshal(r.Body, &res)
			results[string(r.Typ)] = res
		}
	}
	startFake(t, b, cfg, func(jti string, n int, ref, typ string) []protocol.Reply {
		body, _ := json.Marshal(results[typ])
		if results[typ] == nil {
			body = nil
		}
		return []protocol.Reply{{Status: protocol.StatusDone, Time: t0, Body: body}}
	})
	cloud := mqtttest.MustConnect(t, b.URL(), "cloud", "cp", nil)
	publishPresence(t, cloud, "L1", protocol.Presence{State: protocol.Online, Boot: "b-1", Version: "1.4.2", Time: t0})
	for _, args := range [][]string{{"status", "L1"}, {"inventory", "L1"}, {"audit", "L1"}, {"presence", "L1"}, {"open", "L1", "3", "--operator", "jane"}} {
		name := "json-" + args[0]
		t.Run(args[0], func(t *testing.T) {
			full := append([]string{"-config", cfg}, args...)
			if *jsonFrom != "" {
				out, err := exec.Command(*jsonFrom, full...).Output()
				if err != nil {
					t.Fatalf("%s %v: %v", *jsonFrom, args, err)
				}
				if err := os.WriteFile(filepath.Join("testdata", name+".golden"), normalise(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			for _, tty := range []struct {
				name  string
				tty   terminals
				extra []string
			}{{"into a pipe", terminals{}, nil}, {"--json on a terminal", terminals{stdout: true, stderr: true}, []string{"--json"}}} {
				code, out, errOut := ctlOn(t, tty.tty, "", append(append([]string{}, full...), tty.extra...)...)
				if code != 0 || !bytes.Equal(normalise([]byte(out)), want) {
					t.Errorf("%s: exit %d, stderr %q\n got %s\nwant %s", tty.name, code, errOut, normalise([]byte(out)), want)
				}
			}
		})
	}
}

func normalise(out []byte) []byte {
	out = randomID.ReplaceAll(out, []byte(`"id":"ID"`))
	return randomRef.ReplaceAll(out, []byte(`"ref":"REF"`))
}
