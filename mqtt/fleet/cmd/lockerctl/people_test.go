package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/mqtttest"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// ctlOn runs lockerctl as if standard output and standard error were the terminals
// tty says, and returns exit status, stdout and stderr.
func ctlOn(t *testing.T, tty terminals, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runOn(t.Context(), args, strings.NewReader(stdin), &out, &errOut, tty)
	return code, out.String(), errOut.String()
}

// withTimeout sets the configuration's command timeout.
func withTimeout(t *testing.T, cfg string, d time.Duration) {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "timeout: 12s", "timeout: "+d.String(), 1))
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownOrOfflineAtOnce: a command to a locker with no retained presence, or an
// offline one, is refused from its presence within a second while the command timeout
// is 30 s, nothing sent; --wait sends to the offline one anyway (the broker queues it;
// here the fake still listens and answers).
func TestUnknownOrOfflineAtOnce(t *testing.T) {
	b, cfg := fakeSetup(t)
	withTimeout(t, cfg, 30*time.Second)
	var mu sync.Mutex
	got := 0
	startFake(t, b, cfg, func(jti string, n int, ref, typ string) []protocol.Reply {
		mu.Lock()
		got++
		mu.Unlock()
		return []protocol.Reply{{Status: protocol.StatusDone}}
	})
	cloud := mqtttest.MustConnect(t, b.URL(), "cloud", "cp", nil)
	publishPresence(t, cloud, "L2", protocol.Presence{State: protocol.Offline, Boot: "b-2", Version: "1.0.0", Time: t0, Reason: protocol.PresenceShutdown})
	publishPresence(t, cloud, "L3", protocol.Presence{State: protocol.Offline, Boot: "b-3", Version: "1.0.0", Reason: protocol.PresenceLost})
	for _, tc := range []struct {
		name, locker, want string
	}{
		{"never connected", "L-x", "unknown locker L-x: it has never connected"},
		{"offline since", "L2", "L2 is offline since 2026-12-06T10:00:00Z (it shut down); --wait sends anyway"},
		{"connection lost", "L3", "L3 is offline: its connection was lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, out, errOut := ctlOn(t, terminals{}, "", "-config", cfg, "ping", tc.locker)
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %v: want the answer from presence, within a second (timeout 30 s)", took)
			}
			if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, tc.want)
			}
		})
	}
	mu.Lock()
	if got != 0 {
		t.Errorf("the fake received %d commands: nothing should have been sent", got)
	}
	mu.Unlock()

	publishPresence(t, cloud, "L1", protocol.Presence{State: protocol.Offline, Boot: "b-1", Version: "1.0.0", Time: t0, Reason: protocol.PresenceShutdown})
	if code, _, errOut := ctlOn(t, terminals{}, "", "-config", cfg, "ping", "L1"); code != 1 || !strings.Contains(errOut, "L1 is offline since") {
		t.Fatalf("offline L1 without --wait: exit %d, %q", code, errOut)
	}
	code, out, errOut := ctlOn(t, terminals{}, "", "-config", cfg, "--wait", "ping", "L1")
	if code != 0 || !strings.Contains(errOut, "sent anyway (--wait)") || !strings.Contains(out, `"status":"done"`) {
		t.Fatalf("--wait to an offline locker: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestBrokerDown: with no broker, lockerctl says the broker is down, naming every URL
// it tried and the error, and nothing about replies.
func TestBrokerDown(t *testing.T) {
	cfg := testConfig(t, "brokers: [tcp://127.0.0.1:2]\n")
	code, out, errOut := ctlOn(t, terminals{}, "", "-config", cfg, "ping", "L1")
	want := "lockerctl: the broker is down or unreachable (tcp://127.0.0.1:1, tcp://127.0.0.1:2): "
	if code != 1 || out != "" || !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "connection refused") || strings.Contains(errOut, "repl") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %q with the cause", code, out, errOut, want)
	}
}

// announceCSV is n parcels for announce.
func announceCSV(n int) string {
	var sb strings.Builder
	sb.WriteString("parcel,tracking,size\n")
	for i := range n {
		fmt.Fprintf(&sb, "p-%d,RB987654326GB,S\n", i+1)
	}
	return sb.String()
}

// TestBulkAnnounceProgress: announcing 1,000 parcels draws a progress bar on standard
// error when it is a terminal (none otherwise), ends with a summary either way, and
// leaves standard output as it was: one JSON line per command's reply.
func TestBulkAnnounceProgress(t *testing.T) {
	b, cfg := fakeSetup(t)
	startFake(t, b, cfg, func(jti string, n int, ref, typ string) []protocol.Reply {
		return []protocol.Reply{{Status: protocol.StatusDone}}
	})
	summary := "lockerctl: announce L1: 1000 parcels in 10 commands: 1000 announced, 0 refused, 0 not sent or not answered; 0 of 10 commands not done\n"
	code, out, errOut := ctlOn(t, terminals{stderr: true}, announceCSV(1000), "-config", cfg, "announce", "L1", "-")
	if code != 0 || !strings.Contains(errOut, "1000/1000") || !strings.HasSuffix(errOut, summary) {
		t.Fatalf("on a terminal: exit %d, stderr %q; want a bar to 1000/1000 and %q", code, errOut, summary)
	}
	if strings.Count(out, "\n") != 10 || strings.Count(out, `"status":"done"`) != 10 {
		t.Errorf("stdout %q: want 10 JSON replies", out)
	}
	code, _, errOut = ctlOn(t, terminals{}, announceCSV(1000), "-config", cfg, "announce", "L1", "-")
	if code != 0 || errOut != summary {
		t.Fatalf("not a terminal: exit %d, stderr %q; want only the summary", code, errOut)
	}
}

// TestFleet: lockerctl fleet lists every locker from retained presence, without a
// command to any, as a table (golden) or as JSON lines, with outbox and alarms from
// the births' health summaries (ADR 0068); health events gathered with --listen
// replace them.
func TestFleet(t *testing.T) {
	b, cfg := fakeSetup(t)
	cloud := mqtttest.MustConnect(t, b.URL(), "cloud", "cp", nil)
	publishPresence(t, cloud, "L1", protocol.Presence{State: protocol.Online, Boot: "b-1", Version: "1.4.2", Time: t0,
		Health: protocol.NewPresenceHealth(12, map[string]protocol.Health{"bus0": protocol.HealthDegraded, "scanner": protocol.HealthOK})})
	publishPresence(t, cloud, "L4", protocol.Presence{State: protocol.Online, Boot: "b-4", Version: "1.5.0", Time: t0,
		Health: protocol.NewPresenceHealth(0, nil)})
	publishPresence(t, cloud, "L2", protocol.Presence{State: protocol.Offline, Boot: "b-2", Version: "1.4.1", Time: t0.Add(time.Hour), Reason: protocol.PresenceShutdown})
	publishPresence(t, cloud, "L3", protocol.Presence{State: protocol.Offline, Boot: "b-3", Version: "1.4.2", Reason: protocol.PresenceLost})

	code, out, errOut := ctlOn(t, terminals{stdout: true}, "", "-config", cfg, "fleet")
	if code != 0 || !strings.Contains(errOut, "4 lockers: 2 online, 2 offline") {
		t.Fatalf("fleet: exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(errOut, fmt.Sprintf(noHealthHint, 2)) {
		t.Errorf("a table without --listen does not say why two lockers' OUTBOX and ALARMS are empty: stderr %q", errOut)
	}
	golden(t, "fleet-broker", []byte(out))

	code, out, errOut = ctlOn(t, terminals{}, "", "-config", cfg, "fleet")
	if strings.Contains(errOut, "health summary") {
		t.Errorf("JSON lines for a script come with the hint for people: stderr %q", errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var first fleetRow
	if code != 0 || len(lines) != 4 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.Locker != "L1" || first.Version != "1.4.2" ||
		first.Outbox == nil || *first.Outbox != 12 || !slices.Equal(first.Alarms, []string{"bus0=degraded"}) || first.HealthFrom != healthFromPresence {
		t.Fatalf("fleet as JSON lines: exit %d, %q", code, out)
	}

	// A health event from L1, tagged with its event key, while fleet --listen listens.
	conf, _ := loadConfig(cfg)
	keys, _ := conf.keys("L1")
	body, _ := json.Marshal(protocol.HealthEvent{UptimeS: 60, Outbox: 7, Drivers: map[string]protocol.Health{"scanner": protocol.HealthFailed, "lockboard": protocol.HealthOK}})
	ev, _ := json.Marshal(protocol.Event{ID: "e-1", Seq: 1, Type: protocol.EvHealth, Time: t0, Body: body})
	tagged, err := protocol.AppendTag(keys.EventKey(), protocol.KindEvent, "L1", ev)
	if err != nil {
		t.Fatal(err)
	}
	l1 := mqtttest.MustConnect(t, b.URL(), "L1", "lp", nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { // until lockerctl listens: it reads only what arrives while it does
		for ctx.Err() == nil {
			l1.Publish("lockers/L1/evt", 1, false, tagged).WaitTimeout(time.Second)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	code, out, errOut = ctlOn(t, terminals{stdout: true}, "", "-config", cfg, "fleet", "--listen", "1s")
	if strings.Contains(errOut, "health summary") {
		t.Errorf("--listen still says the columns need it: stderr %q", errOut)
	}
	l1Row := ""
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "L1 ") {
			l1Row = strings.Join(strings.Fields(line), " ")
		}
	}
	if code != 0 || l1Row != "L1 online 2026-12-06 10:00:00Z 1.4.2 now 7 scanner=failed" {
		t.Fatalf("fleet --listen: exit %d\n%s", code, out)
	}
}

// TestFleetFromPresenceAlone: when every locker's presence carries a health summary,
// the table has every OUTBOX and ALARMS filled without --listen, and no hint.
func TestFleetFromPresenceAlone(t *testing.T) {
	b, cfg := fakeSetup(t)
	cloud := mqtttest.MustConnect(t, b.URL(), "cloud", "cp", nil)
	publishPresence(t, cloud, "L1", protocol.Presence{State: protocol.Online, Boot: "b-1", Version: "1.5.0", Time: t0,
		Health: protocol.NewPresenceHealth(3, map[string]protocol.Health{"scanner": protocol.HealthFailed, "bus0": protocol.HealthDegraded})})
	publishPresence(t, cloud, "L2", protocol.Presence{State: protocol.Online, Boot: "b-2", Version: "1.5.0", Time: t0,
		Health: protocol.NewPresenceHealth(0, map[string]protocol.Health{"scanner": protocol.HealthOK})})
	code, out, errOut := ctlOn(t, terminals{stdout: true}, "", "-config", cfg, "fleet")
	if code != 0 || strings.Contains(errOut, "health summary") || strings.Contains(errOut, "--listen") {
		t.Fatalf("fleet: exit %d, stderr %q", code, errOut)
	}
	golden(t, "fleet-presence", []byte(out))
}

// TestWatchSaysItWaits: watch (events) says on standard error that it is waiting
// when that is a terminal, and leaves a script's standard error empty.
func TestWatchSaysItWaits(t *testing.T) {
	_, cfg := fakeSetup(t)
	code, out, errOut := ctlOn(t, terminals{stdout: true, stderr: true}, "", "-config", cfg, "watch", "--for", "100ms", "L1")
	if code != 0 || out != "" || errOut != "lockerctl: waiting for events of L1 (Ctrl-C to stop)\n" {
		t.Fatalf("on a terminal: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = ctlOn(t, terminals{}, "", "-config", cfg, "events", "--for", "100ms")
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("in a script: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestManyLockers: ping --lockers FILE sends to each locker listed, prints one outcome
// per locker (JSON lines as they come, or a table at the end: golden), a progress bar
// on a terminal and a summary; offline and unknown lockers are reported from presence,
// not sent to.
func TestManyLockers(t *testing.T) {
	b, cfg := fakeSetup(t)
	startFake(t, b, cfg, func(jti string, n int, ref, typ string) []protocol.Reply {
		return []protocol.Reply{{Status: protocol.StatusDone, Time: t0, Body: json.RawMessage(`{"time":"2026-12-06T10:00:00Z","boot":"b-1"}`)}}
	})
	cloud := mqtttest.MustConnect(t, b.URL(), "cloud", "cp", nil)
	publishPresence(t, cloud, "L2", protocol.Presence{State: protocol.Offline, Boot: "b-2", Version: "1.0.0", Time: t0, Reason: protocol.PresenceShutdown})
	list := filepath.Join(t.TempDir(), "lockers.txt")
	if err := os.WriteFile(list, []byte("# the north route\nL1\nL2  # closed for works\n\nL-x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ctlOn(t, terminals{}, "", "-config", cfg, "ping", "--lockers", list)
	summary := "lockerctl: ping to 3 lockers: 1 done, 1 offline, 1 never connected\n"
	if code != 1 || !strings.HasPrefix(errOut, summary) {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errOut, summary)
	}
	got := map[string]lockerOutcome{}
	for line := range strings.Lines(out) {
		var o lockerOutcome
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got[o.Locker] = o
	}
	if len(got) != 3 || got["L1"].Outcome != "done" || got["L1"].Reply == nil || got["L2"].Outcome != "offline" || got["L-x"].Outcome != "never_connected" ||
		!strings.Contains(got["L-x"].Error, "unknown locker L-x: it has never connected") {
		t.Fatalf("outcomes %q", out)
	}
	code, out, errOut = ctlOn(t, terminals{stdout: true, stderr: true}, "", "-config", cfg, "ping", "--lockers", list)
	if code != 1 || !strings.Contains(errOut, "3/3") || !strings.HasSuffix(errOut, summary+"lockerctl: ping: 2 of 3 lockers not done\n") {
		t.Fatalf("on a terminal: exit %d, stderr %q", code, errOut)
	}
	golden(t, "many-broker", []byte(out))
	if code, _, errOut := ctlOn(t, terminals{}, "", "-config", cfg, "ping", "L1", "--lockers", list); code != 2 {
		t.Errorf("LOCKER and --lockers: exit %d, %q; want a usage error", code, errOut)
	}
}

// FuzzReadLockers: any list either gives distinct valid locker ids or an error that
// names a line.
func FuzzReadLockers(f *testing.F) {
	f.Add("L1\nL2 # comment\n\n# only a comment\n")
	f.Add("L1\nL1\n")
	f.Add("bad id\n")
	f.Fuzz(func(t *testing.T, in string) {
		ids, err := readLockers(strings.NewReader(in))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if !protocol.ValidID(id) || seen[id] {
				t.Fatalf("accepted %q (repeated: %v)", id, seen[id])
			}
			seen[id] = true
		}
		if len(ids) == 0 {
			t.Fatal("no ids and no error")
		}
	})
}

// TestAnnounceToMany: announce FILE with a locker column digests every row under its
// locker's keys, sends each locker its parcels, and prints one outcome per locker with
// a summary; a locker that never connected is reported, not waited for.
func TestAnnounceToMany(t *testing.T) {
	b, cfg := fakeSetup(t)
	var mu sync.Mutex
	got := 0
	startFake(t, b, cfg, func(jti string, n int, ref, typ string) []protocol.Reply {
		mu.Lock()
		got++
		mu.Unlock()
		body, _ := json.Marshal(protocol.AnnounceResult{Items: []protocol.ItemResult{{Parcel: "p-2", Status: protocol.StatusRefused, Reason: protocol.ReasonConflict}}})
		return []protocol.Reply{{Status: protocol.StatusDone, Reason: protocol.ReasonPartial, Body: body}}
	})
	withPin := func(extra string) {
		raw, _ := os.ReadFile(cfg)
		if err := os.WriteFile(cfg, append(raw, extra...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	withPin("  L9: " + strings.Repeat("cd", 32) + "\n") // pinned, never connected
	csv := "locker,parcel,tracking,size\nL1,p-1,RB987654326GB,S\nL9,p-1,RB987654326GB,M\nL1,p-2,RA000000005DE,M\nL1,p-3,RA000000005DE,L\n"
	code, out, errOut := ctlOn(t, terminals{stderr: true}, csv, "-config", cfg, "announce", "-", "--batch", "2")
	summary := "lockerctl: announce to 2 lockers: 1 refused, 1 never connected\n"
	if code != 1 || !strings.Contains(errOut, "4/4") || !strings.Contains(errOut, summary) {
		t.Fatalf("exit %d, stderr %q; want 1, the bar to 4/4 and %q", code, errOut, summary)
	}
	var l1 lockerOutcome
	for line := range strings.Lines(out) {
		var o lockerOutcome
		if json.Unmarshal([]byte(line), &o) == nil && o.Locker == "L1" {
			l1 = o
		}
	}
	// Two commands (batch 2), each answered "p-2 refused" by the fake: 3 - 2 announced.
	if l1.Outcome != "refused" || l1.Announced == nil || *l1.Announced != 1 || len(l1.Refused) != 2 {
		t.Fatalf("L1's outcome %+v in %q", l1, out)
	}
	mu.Lock()
	if got != 2 {
		t.Errorf("%d commands reached L1, want 2", got)
	}
	mu.Unlock()
	// With LOCKER, a row for another locker is refused before anything is sent.
	if code, _, errOut := ctlOn(t, terminals{}, csv, "-config", cfg, "announce", "L1", "-"); code != 2 || !strings.Contains(errOut, "line 3") {
		t.Errorf("announce L1 with an L9 row: exit %d, %q", code, errOut)
	}
}

// TestManyUnknownLockersAtOnce: to many lockers that never connected, the presence
// grace is spent once per run, not once per locker: 200 unknown lockers, one at a
// time (--parallel 1), are all reported within a few seconds (200 graces would be
// 100 s).
func TestManyUnknownLockersAtOnce(t *testing.T) {
	_, cfg := fakeSetup(t)
	var list strings.Builder
	for i := range 200 {
		fmt.Fprintf(&list, "NOBODY-%d\n", i)
	}
	start := time.Now()
	code, _, errOut := ctlOn(t, terminals{}, list.String(), "-config", cfg, "ping", "--lockers", "-", "--parallel", "1")
	if took := time.Since(start); code != 1 || !strings.HasPrefix(errOut, "lockerctl: ping to 200 lockers: 200 never connected\n") || took > 10*time.Second {
		t.Fatalf("exit %d after %v, stderr %q", code, took, errOut)
	}
}
