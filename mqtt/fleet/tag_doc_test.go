package fleet_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// vectorKeys derives the keys of docs/privacy.md §4 on the fleet side: fleet
// private 0x21..0x40, the device public key of the table, locker LK-TEST-0001.
func vectorKeys(t *testing.T) *fleet.Keys {
	t.Helper()
	var fp, dp [32]byte
	for i := range fp {
		fp[i] = byte(0x21 + i)
	}
	pub, _ := hex.DecodeString("07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c")
	copy(dp[:], pub)
	k, err := fleet.DeriveKeys(fp, dp, "LK-TEST-0001")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestEventMACVectors: the MAC vectors of docs/protocol.md §5.3 are what the Go code
// makes, and the document's OpenSSL and Python scripts print exactly them.
func TestEventMACVectors(t *testing.T) {
	raw, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	examples, outputs := docBlocks(t, string(raw), "example"), docBlocks(t, string(raw), "output")
	want := nonEmptyLines(outputs["event-mac"])
	if len(want) != 4 {
		t.Fatalf("the document shows %d vector lines, want the key and 3 messages", len(want))
	}
	key := vectorKeys(t).EventKey()
	if got := hex.EncodeToString(key); got != want[0] {
		t.Fatalf("event key %s, the document says %s", got, want[0])
	}
	kinds := []protocol.Kind{protocol.KindEvent, protocol.KindReply, protocol.KindReply}
	for i, line := range want[1:] {
		payload, err := protocol.VerifyTag(key, kinds[i], "LK-TEST-0001", []byte(line))
		if err != nil {
			t.Fatalf("vector %d does not verify: %v", i+1, err)
		}
		again, err := protocol.AppendTag(key, kinds[i], "LK-TEST-0001", payload)
		if err != nil || !bytes.Equal(again, []byte(line)) {
			t.Fatalf("vector %d: Go tags it %s (%v)", i+1, again, err)
		}
		if kinds[i] == protocol.KindEvent {
			if _, _, err := protocol.DecodeEvent(payload); err != nil {
				t.Fatalf("vector %d is not a valid event: %v", i+1, err)
			}
		} else if _, err := protocol.DecodeReplies(payload); err != nil {
			t.Fatalf("vector %d is not a valid reply message: %v", i+1, err)
		}
	}
	for _, tt := range []struct{ name, tool, block string }{
		{"openssl", "openssl", "event-mac-openssl"},
		{"python", "python3", "event-mac-python"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			testenv.LookPath(t, tt.tool)
			testenv.LookPath(t, "bash")
			script := examples[tt.block]
			if script == "" {
				t.Fatalf("example %q missing from %s", tt.block, protocolDoc)
			}
			ctx := testenv.Context(t, 30*time.Second)
			var cmd *exec.Cmd
			if tt.tool == "python3" {
				cmd = exec.CommandContext(ctx, "python3", "-c", script)
			} else {
				cmd = exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
			}
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if got := nonEmptyLines(string(out)); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("printed:\n%s\nthe document shows:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
