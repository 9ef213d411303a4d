package firmware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// lockerctlBinary is the operator CLI, built once per test run.
func lockerctlBinary(t testing.TB) string {
	return binary(t, "github.com/lockerd/lockerd/mqtt/fleet/cmd/lockerctl")
}

// ctl runs lockerctl with the config and stdin; it returns stdout, stderr and the exit code.
func ctl(ctx context.Context, t *testing.T, cfg, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, lockerctlBinary(t), append([]string{"-config", cfg}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	}
	t.Fatalf("lockerctl %v: %v", args, err)
	return "", "", -1
}

// TestLockerctl drives lockerd (in process, real mosquitto, TLS client certificates)
// with the operator CLI as a process: it pins the locker, provisions a courier and
// announces parcels (secrets on standard input and in a CSV file), the locker serves a
// deposit and a pickup with them, the CLI streams the events and opens a door, and
// refuses bad input with a usage error. None of the secrets appears in anything
// lockerctl printed.
func TestLockerctl(t *testing.T) {
	const id = "CTL-01"
	w := newCloudWorld(t, cloudWorldOptions{lockerID: id, mqtt: func(m *config.MQTT) {
		m.RemoteOpen = config.RateLimit{Max: 1, Per: time.Hour}
	}})
	w.runInProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w.online(ctx, t, "")
	ident, err := w.station.Client().Identity(ctx) // as `lockerd identity` shows the installer
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	signing, x25519, err := w.cloud.WriteKeyFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := w.broker.ClientCertFiles(cloudCN)
	cfg := filepath.Join(dir, "lockerctl.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `broker: %s
client_id_prefix: lockerctl-test
tls: {ca: %s, cert: %s, key: %s}
signing_key: %s
x25519_key: %s
lockers:
  %s: %s
timeout: 20s
`, w.broker.TLSURL(), w.broker.CAFile(), cert, key, signing, x25519, id, ident.Public), 0o600); err != nil {
		t.Fatal(err)
	}

	tracking := []string{"RB987654326GB", "CANARYX5550123"}
	codes := []string{"73914682", "55281937"}
	const phone = "7305" // the recipient's last four digits
	badge, pin := "CANARY-BADGE-7F3A-Q2XWZ5LMNOP", "86420975"
	var printed strings.Builder // everything lockerctl wrote
	run := func(stdin string, wantCode int, args ...string) string {
		t.Helper()
		out, errOut, code := ctl(ctx, t, cfg, stdin, args...)
		printed.WriteString(out + errOut)
		if code != wantCode {
			t.Fatalf("lockerctl %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out, errOut)
		}
		return out
	}
	reply := func(out string) protocol.Reply {
		t.Helper()
		var r protocol.Reply
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
			t.Fatalf("reply %q: %v", out, err)
		}
		return r
	}

	if r := reply(run("", 0, "status", id)); r.Status != protocol.StatusDone || r.Typ != protocol.CmdStatus {
		t.Fatalf("status reply %+v", r)
	}
	run(badge+"\n"+pin+"\n", 0, "courier-upsert", id, "c-1", "-rights", "deposit,retrieve")
	// courier-new makes the badge token and prints it once, after the locker's reply.
	madeLines := strings.Split(strings.TrimSpace(run("13579024\n", 0, "courier-new", id, "c-2")), "\n")
	var made struct {
		Courier string `json:"courier"`
		BadgeQR string `json:"badge_qr"`
	}
	if err := json.Unmarshal([]byte(madeLines[len(madeLines)-1]), &made); err != nil || made.Courier != "c-2" {
		t.Fatalf("courier-new printed %q: %v", madeLines, err)
	}
	if r := reply(madeLines[0]); r.Status != protocol.StatusDone {
		t.Fatalf("courier-new reply %+v", r)
	}
	newToken, ok := strings.CutPrefix(made.BadgeQR, "LKB:")
	if !ok || len(newToken) != 26 || strings.Trim(newToken, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		t.Fatalf("courier-new's badge QR %q: want LKB: and 26 base32 characters", made.BadgeQR)
	}
	if sid, err := w.station.Client().Login(ctx, newToken, "13579024"); err != nil {
		t.Fatalf("login with courier-new's badge: %v", err)
	} else if err := w.station.Client().Logout(ctx, sid); err != nil {
		t.Fatal(err)
	}
	csv := fmt.Sprintf("parcel,tracking,code,phone,size\np-1,%s,%s,%s,S\np-2,%s,%s,%s,M\n", tracking[0], codes[0], phone, tracking[1], codes[1], phone)
	csvFile := filepath.Join(dir, "parcels.csv")
	if err := os.WriteFile(csvFile, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := reply(run("", 0, "announce", id, csvFile)); r.Status != protocol.StatusDone || r.Reason != "" {
		t.Fatalf("announce reply %+v", r)
	}
	run(codes[1]+"\n"+phone+"\n", 0, "set-code", id, "p-1") // p-1 now opens with the second code

	cl := w.station.Client()
	sid, err := cl.Login(ctx, badge, pin)
	if err != nil {
		t.Fatal(err)
	}
	seq := w.station.Boards.LastSeq()
	for _, tn := range tracking {
		if _, err := cl.Scan(ctx, sid, tn, ""); err != nil {
			t.Fatalf("scan: %v", err)
		}
		waitDoorsShut(ctx, t, w.station, &seq)
		if err := waitIdle(ctx, cl); err != nil { // lockerd saw the door shut: deposited
			t.Fatal(err)
		}
	}
	if _, err := cl.PickupCode(ctx, codes[0], phone); err == nil {
		t.Fatal("the replaced code still opens")
	}
	if p, err := cl.PickupCode(ctx, codes[1], phone); err != nil || len(p.Slots) != 2 {
		t.Fatalf("pickup: %+v %v", p, err)
	}
	waitDoorsShut(ctx, t, w.station, &seq)
	if err := waitIdle(ctx, cl); err != nil {
		t.Fatal(err)
	}

	// The events so far, oldest first (the broker keeps them for the persistent
	// fleet session; lockerctl reads what arrives while it listens, so ask for the
	// audit instead and stream the events of a remote opening live).
	events := make(chan string, 1)
	go func() {
		out, errOut, code := ctl(ctx, t, cfg, "", "events", "-n", "2", "-for", "30s", id)
		if code != 0 || errOut != "" {
			t.Errorf("lockerctl events: exit %d, stderr %s", code, errOut)
		}
		events <- out
	}()
	time.Sleep(time.Second) // lockerctl events subscribed
	if r := reply(run("", 0, "open", id, "3", "-operator", "op-1", "-reason", "inspection")); r.Status != protocol.StatusDone {
		t.Fatalf("open reply %+v", r)
	}
	if r := reply(run("", 1, "open", id, "3", "-operator", "op-1")); r.Reason != protocol.ReasonRateLimited {
		t.Fatalf("second open: %+v", r)
	}
	out := <-events
	printed.WriteString(out)
	if r := reply(run("", 0, "clear-throttle", id, "courier", "-operator", "op-1")); r.Status != protocol.StatusDone {
		t.Fatalf("clear-throttle reply %+v", r)
	}
	run("", 2, "clear-throttle", id, "qr", "-operator", "op-1")
	// An erasure of a subject the locker never recorded: done, nothing to destroy (ADR 0065).
	if r := reply(run("", 0, "erase-subject", id, "courier-never-seen", "-operator", "op-1")); r.Status != protocol.StatusDone ||
		!strings.Contains(string(r.Body), `"keys":0`) {
		t.Fatalf("erase-subject reply %+v", r)
	}
	run("", 2, "erase-subject", "courier-never-seen", "-operator", "op-1") // neither LOCKER nor --lockers
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("events printed: %q", out)
	}
	for _, l := range lines {
		var ev struct {
			Locker string             `json:"locker"`
			Type   protocol.EventType `json:"type"`
			Seq    uint64             `json:"seq"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Locker != id || ev.Seq == 0 {
			t.Fatalf("event line %q: %v", l, err)
		}
	}
	audit := reply(run("", 0, "audit", id, "-from", "1", "-limit", "500"))
	for _, want := range []string{`"deposited"`, `"picked_up"`, `"announced"`, `"courier_upserted"`} {
		if !bytes.Contains(audit.Body, []byte(want)) {
			t.Fatalf("audit has no %s entry: %s", want, audit.Body)
		}
	}
	if r := reply(run(`{}`, 0, "send", id, "ping", "-")); r.Typ != protocol.CmdPing {
		t.Fatalf("send ping: %+v", r)
	}
	var presence protocol.Presence
	if err := json.Unmarshal([]byte(run("", 0, "presence", id)), &presence); err != nil || presence.State != protocol.Online {
		t.Fatalf("presence %+v %v", presence, err)
	}

	// Bad input: a usage error (exit 2) naming the problem, nothing sent.
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"open", id, "zero", "-operator", "op-1"}, "compartment"},
		{"", []string{"open", id, "3", "-operator", "op-1", "-reason", "curious"}, "reason"},
		{"", []string{"frobnicate", id}, "unknown command"},
		{"parcel,tracking,code,size\np-9,RB987654327GB,11112222,S\n", []string{"announce", id, "-"}, "line 2"},
		{"parcel,tracking,size\np-9,RB987654326GB,XXL\n", []string{"announce", id, "-"}, "line 2"},
		{"1234\n", []string{"set-code", id, "p-1"}, "pickup code"},
		{`{"parcel":"p-1","extra":1}`, []string{"send", id, "cancel", "-"}, "extra"},
	} {
		_, errOut, code := ctl(ctx, t, cfg, tc.stdin, tc.args...)
		printed.WriteString(errOut)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("lockerctl %v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	// A command nobody answers: exit 3, outcome unknown, named with its expiry.
	short := filepath.Join(dir, "short.yaml")
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, bytes.Replace(raw, []byte("timeout: 20s"), []byte("timeout: 1s"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	// NOBODY-1 and SILENT-1 say they are online and never answer: lockerctl refuses a
	// locker that never connected at once, from its retained presence (its own tests).
	pres := w.raw(t, "ctl-presence")
	for _, id := range []string{"NOBODY-1", "SILENT-1"} {
		tok := pres.Publish(protocol.MustTopics("lockers").Status(id), 1, true, []byte(`{"state":"online","boot":"b-1","version":"1.0.0"}`))
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		t.Cleanup(func() {
			pres.Publish(protocol.MustTopics("lockers").Status(id), 1, true, []byte{}).WaitTimeout(5 * time.Second)
		})
	}
	if _, errOut, code := ctl(ctx, t, short, "", "ping", "NOBODY-1"); code != 3 || !strings.Contains(errOut, "may still run it until") {
		t.Errorf("unanswered command: exit %d %q, want 3 and the expiry", code, errOut)
	}
	// An announce whose first command nobody answers stops there: the rest is not sent
	// blind (exit 3, the first command named).
	silent := filepath.Join(dir, "silent.yaml")
	withSilent := bytes.Replace(raw, []byte("timeout: 20s"), []byte("timeout: 1s"), 1)
	withSilent = bytes.Replace(withSilent, []byte("lockers:\n"), fmt.Appendf(nil, "lockers:\n  SILENT-1: %s\n", ident.Public), 1)
	if err := os.WriteFile(silent, withSilent, 0o600); err != nil {
		t.Fatal(err)
	}
	var published atomic.Int32
	watch := w.raw(t, "ctl-watch")
	if tok := watch.Subscribe(protocol.MustTopics("lockers").Command("SILENT-1"), 1, func(paho.Client, paho.Message) {
		published.Add(1)
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	three := fmt.Sprintf("parcel,tracking,size\np-7,%s,S\np-8,%s,S\np-9,RA000000005DE,S\n", tracking[0], tracking[1])
	_, errOut, code := ctl(ctx, t, silent, three, "announce", "SILENT-1", "-", "-batch", "1")
	printed.WriteString(errOut)
	if code != 3 || !strings.Contains(errOut, "command 1 of 3; the rest not sent") {
		t.Errorf("announce to a silent locker: exit %d %q, want 3 and a stop after the first", code, errOut)
	}
	time.Sleep(300 * time.Millisecond)
	if n := published.Load(); n != 1 {
		t.Errorf("%d announce commands published to a silent locker, want 1", n)
	}
	// A locker that is not pinned gets no digests.
	if _, errOut, code := ctl(ctx, t, cfg, "p,t,s\n", "announce", "OTHER-1", "-"); code != 1 || !strings.Contains(errOut, "not pinned") {
		t.Errorf("unpinned locker: exit %d %q", code, errOut)
	}

	all := printed.String()
	for _, secret := range append(append(append([]string{badge, pin}, tracking...), codes...), "RB987654327GB", "11112222") {
		if strings.Contains(all, secret) {
			t.Errorf("lockerctl printed a secret (%s…)", secret[:3])
		}
	}
}
