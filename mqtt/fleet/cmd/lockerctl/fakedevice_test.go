package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/mqtttest"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// fakeDevice answers commands for L1 with whatever reply() returns (nil: no answer),
// each reply tagged with L1's event key as the configuration at cfg derives it.
type fakeDevice struct {
	mu    sync.Mutex
	count map[string]int // per jti, copies received
}

func startFake(t *testing.T, b *mqtttest.Broker, cfg string, reply func(jti string, copy int, ref string, typ string) []protocol.Reply) {
	t.Helper()
	conf, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := conf.keys("L1")
	if err != nil {
		t.Fatal(err)
	}
	eventKey := keys.EventKey()
	c := mqtttest.MustConnect(t, b.URL(), "L1", "lp", nil)
	fd := &fakeDevice{count: map[string]int{}}
	tok := c.Subscribe("lockers/L1/cmd", 1, func(c paho.Client, m paho.Message) {
		parts := strings.Split(string(m.Payload()), ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims struct {
			Jti string `json:"jti"`
			Typ string `json:"typ"`
		}
		_ = json.Unmarshal(raw, &claims)
		fd.mu.Lock()
		fd.count[claims.Jti]++
		n := fd.count[claims.Jti]
		fd.mu.Unlock()
		ref := protocol.CommandRef(m.Payload())
		for _, r := range reply(claims.Jti, n, ref, claims.Typ) {
			r.ID, r.Ref, r.Typ = claims.Jti, ref, protocol.CommandType(claims.Typ)
			if r.Time.IsZero() {
				r.Time = time.Now().UTC()
			}
			p, err := protocol.EncodeReply(&r)
			if err == nil {
				p, err = protocol.AppendTag(eventKey, protocol.KindReply, "L1", p)
			}
			if err != nil {
				t.Errorf("encode: %v", err)
				return
			}
			go c.Publish("lockers/L1/reply", 1, false, p)
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("fake subscribe: %v", tok.Error())
	}
	// Online, as a locker says after every connect: lockerctl sends only to a locker
	// whose retained presence says so.
	publishPresence(t, c, "L1", protocol.Presence{State: protocol.Online, Boot: "b-1", Version: "1.0.0", Time: time.Now().UTC()})
}

// publishPresence retains a presence for locker, as lockerd and the broker's Last Will
// do.
func publishPresence(t testing.TB, c paho.Client, locker string, p protocol.Presence) {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Publish("lockers/"+locker+"/status", 1, true, b); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("presence: %v", tok.Error())
	}
}

func fakeSetup(t testing.TB) (*mqtttest.Broker, string) {
	b := mqtttest.Start(t, mqtttest.Options{Users: []mqtttest.User{{Name: "L1", Password: "lp"}, {Name: "cloud", Password: "cp", Cloud: true}}})
	dir := t.TempDir()
	if _, err := keygen(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("cp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "lockerctl.yaml")
	body := fmt.Sprintf("broker: %s\nusername: cloud\npassword_file: pw\ntimeout: 12s\nsigning_key: fleet.pem\nx25519_key: fleet-x25519.pem\nlockers:\n  L1: %s\n", b.URL(), strings.Repeat("ab", 32))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return b, cfg
}

// TestUnknownReplyExitsThree: a final "unknown" (the locker stopped while running
// the command, and will not run it again) exits 3, outcome unknown, not 1.
func TestUnknownReplyExitsThree(t *testing.T) {
	b, cfg := fakeSetup(t)
	startFake(t, b, cfg, func(jti string, n int, ref, typ string) []protocol.Reply {
		return []protocol.Reply{{Status: protocol.StatusUnknown, Reason: protocol.ReasonInterrupted, Detail: "the device stopped"}}
	})
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-config", cfg, "open", "L1", "3", "-operator", "op-1"}, strings.NewReader(""), &out, &errb)
	if code != 3 || !strings.Contains(errb.String(), "will not run it again") {
		t.Fatalf("exit %d, stderr %q; want 3 and why", code, errb.String())
	}
}

// TestPartialAnnounceFails: an announce done only in part (some parcels refused)
// exits 1 and says so on stderr; the reply with its items is printed.
func TestPartialAnnounceFails(t *testing.T) {
	b, cfg := fakeSetup(t)
	startFake(t, b, cfg, func(jti string, n int, ref, typ string) []protocol.Reply {
		body, _ := json.Marshal(protocol.AnnounceResult{Items: []protocol.ItemResult{{Parcel: "p-2", Status: protocol.StatusRefused, Reason: protocol.ReasonConflict}}})
		return []protocol.Reply{{Status: protocol.StatusDone, Reason: protocol.ReasonPartial, Detail: "some parcels were refused", Body: body}}
	})
	var out, errb bytes.Buffer
	csv := "parcel,tracking,size\np-1,RB987654326GB,S\np-2,RA000000005DE,M\n"
	code := run(context.Background(), []string{"-config", cfg, "announce", "L1", "-"}, strings.NewReader(csv), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "in part") || !strings.Contains(out.String(), "p-2") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 1, the items printed and the reason", code, out.String(), errb.String())
	}
}

// startFakeDone starts a fake L1 that answers every command done.
func startFakeDone(t *testing.T, b *mqtttest.Broker, cfg string) {
	t.Helper()
	startFake(t, b, cfg, func(jti string, n int, ref, typ string) []protocol.Reply {
		return []protocol.Reply{{Status: protocol.StatusDone}}
	})
}
