package locker

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
	"github.com/lockerd/lockerd/locker/store/boltstore"
)

// A store written by an earlier build must open in this one: the bbolt buckets and
// records are a format (docs/adr/0003-store-layout.md). testdata/store-v1 is a state
// directory written by commit 620508a (before the store moved out of this package,
// docs/adr/0038-store-boundary.md) with TestWriteGoldenStore; expect.json is what that
// build read back from it through the public API, and TestGoldenStore reads it again.
//
// To write it again (only on purpose: the point is that it was written by an old build):
//
//	LOCKERD_WRITE_GOLDEN=$PWD/locker/testdata/store-v1 go test ./locker -run TestWriteGoldenStore
const goldenDir = "testdata/store-v1"

// goldenNow is the station clock the fixture is written and read at.
var goldenNow = testStart.Add(time.Hour)

// goldenExp is the expiry of the fixture's commands: long after goldenNow.
var goldenExp = testStart.Add(48 * time.Hour)

// goldenKeep is the events the fixture's wire outbox sends.
func goldenKeep(e Event) bool { return e.Type != EvAnnounced && e.Type != EvReserved }

var goldenCommands = []string{"cmd-ann-1", "cmd-ann-2", "cmd-begun", "cmd-done", "cmd-rec", "cmd-unknown"}

var goldenParcels = []ParcelID{"p-1", "p-2", "p-3", "p-4", "p-unknown"}

func TestWriteGoldenStore(t *testing.T) {
	out := os.Getenv("LOCKERD_WRITE_GOLDEN")
	if out == "" {
		t.Skip("LOCKERD_WRITE_GOLDEN not set")
	}
	f := newFixture(t, mixedSpecs())
	f.st.policy.LegacyCodes = true // store-v1 was written before ADR 0046: scheme-1 verifiers
	ann := func(id ParcelID, tracking, code string, size Size) Announcement {
		a := Announcement{ID: id, Waybill: f.cloud.Waybill(tracking), Size: size, Hint: "…" + tracking[len(tracking)-4:]}
		if code != "" {
			a.Verifier = f.cloud.CodeVerifier(code)
		}
		return a
	}
	// The commands are recorded as the cloud link's adapter records them
	// (firmware/cloudlink): each announce command with its reply in the transition
	// that applies it, the others begun, finished or recorded in their own.
	commands := func(fn func(log store.CommandTx) error) {
		t.Helper()
		if err := f.st.Atomically(func(tx *Tx) error { return fn(tx.Commands()) }); err != nil {
			t.Fatal(err)
		}
	}
	err := f.st.Atomically(func(tx *Tx) error {
		for _, c := range []struct {
			id    string
			batch []Announcement
		}{
			{"cmd-ann-1", []Announcement{ann("p-1", "RB123456785GB", "48213377", SizeS), ann("p-2", "RR000000014GB", "11223344", SizeM)}},
			{"cmd-ann-2", []Announcement{ann("p-3", "RR000000028GB", "", SizeL), ann("p-4", "RR000000031GB", "55667788", SizeS)}},
		} {
			id, batch := c.id, c.batch
			if res, err := tx.Announce(batch); err != nil || res[0] != nil || res[1] != nil {
				return fmt.Errorf("%s: %v %v", id, err, res)
			}
			if err := tx.Commands().PutCommand(id, goldenExp, []byte(`{"ref":"`+id+`","status":"ok"}`)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("announce: %v", err)
	}
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true, Retrieve: true})
	f.deposit(sid, "RB123456785GB") // p-1: deposited
	c2 := f.deposit(sid, "RR000000014GB")
	if _, err := f.st.EnterCode(ctx, "11223344", testPhone); err != nil { // p-2: picked up, terminal
		t.Fatal(err)
	}
	f.openClose(c2)
	if _, err := f.st.EnterCode(ctx, "00000000", testPhone); !errors.Is(err, ErrWrongCode) { // a stored throttle
		t.Fatalf("wrong code: %v", err)
	}
	commands(func(log store.CommandTx) error { return log.BeginCommand("cmd-begun", goldenExp) })
	commands(func(log store.CommandTx) error { return log.BeginCommand("cmd-done", goldenExp) })
	commands(func(log store.CommandTx) error {
		return log.FinishCommand("cmd-done", []byte(`{"ref":"cmd-done","status":"done"}`))
	})
	commands(func(log store.CommandTx) error {
		return log.PutCommand("cmd-rec", goldenExp, []byte(`{"ref":"cmd-rec","status":"ok"}`))
	})
	p := DefaultPolicy()
	p.Version, p.Retention = 2, 96*time.Hour
	if err := f.st.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Record(EvHealth, "golden", []byte(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	wo := f.st.WireOutbox(goldenKeep)
	if err := wo.Ack(3); err != nil { // outbox_wire_acked
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Second)
	if _, err := f.st.Scan(ctx, sid, "RR000000028GB", SizeUnknown); err != nil { // p-3: never seen going in
		t.Fatal(err)
	}
	f.restart() // the deposit is unverified
	if f.clock.Now().After(goldenNow) {
		t.Fatalf("the scenario ran past goldenNow: %v", f.clock.Now())
	}
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "store.db" {
			compactStore(t, filepath.Join(f.dir, e.Name()), filepath.Join(out, e.Name()))
			continue
		}
		copyFile(t, filepath.Join(f.dir, e.Name()), filepath.Join(out, e.Name()))
	}
	if err := os.WriteFile(filepath.Join(out, "fleet.key"), []byte(hex.EncodeToString(f.fleetPriv[:])+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := openGolden(t, out)
	defer st.Close()
	if err := os.WriteFile(filepath.Join(out, "expect.json"), goldenSnapshot(t, st), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGoldenStore opens the store an earlier build wrote, reads back what that build
// read, then works on it: the code of a deposited parcel opens its door (the sealed
// indexes and the epoch keys agree), and the unverified deposit is resolved.
func TestGoldenStore(t *testing.T) {
	st := openGolden(t, goldenDir)
	defer st.Close()
	want, err := os.ReadFile(filepath.Join(goldenDir, "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := goldenSnapshot(t, st); !bytes.Equal(got, want) {
		t.Fatalf("read back from the golden store:\n%s\nwant (as the build that wrote it read it):\n%s", got, want)
	}
	if p := st.Policy(); p.Version != 2 || p.Retention != 96*time.Hour {
		t.Fatalf("stored policy not in force: %+v", p)
	}
	// Written before ADR 0046: its parcels carry scheme-1 verifiers, so the station
	// runs legacy_codes until the cloud re-issues them, and the code entry of the
	// default policy applies (the stored policy has none).
	if s, err := st.Status(); err != nil || s.LegacyParcels != 2 {
		t.Fatalf("legacy parcels of the v1 store: %+v %v", s, err)
	}
	if p := st.Policy(); !p.LegacyCodes || p.CodeEntry != DefaultPolicy().CodeEntry {
		t.Fatalf("v1 store: legacy_codes %v, code_entry %+v", p.LegacyCodes, p.CodeEntry)
	}
	if reply, done, known, err := storedCommand(st, "cmd-done"); err != nil || !known || !done || string(reply) != `{"ref":"cmd-done","status":"done"}` {
		t.Fatalf("cmd-done: %q %v %v %v", reply, done, known, err)
	}
	if reply, done, known, err := storedCommand(st, "cmd-begun"); err != nil || !known || done || reply != nil {
		t.Fatalf("cmd-begun is not in progress: %q %v %v %v", reply, done, known, err)
	}
	if err := st.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	pk, err := st.EnterCode(ctx, "48213377", testPhone) // p-1's code, sealed under the fixture's epoch key
	if err != nil || len(pk.Slots) != 1 {
		t.Fatalf("p-1's code: %+v %v", pk, err)
	}
	st.DoorChanged(pk.Slots[0].Compartment, true)
	st.DoorChanged(pk.Slots[0].Compartment, false)
	if p, err := st.ParcelInfo("p-1"); err != nil || p.State != StatePickedUp {
		t.Fatalf("p-1 after its pickup: %+v %v", p, err)
	}
	var unverified CompartmentID
	for _, c := range st.Compartments() {
		if c.Fault == FaultUnverified {
			unverified = c.ID
		}
	}
	if unverified == 0 {
		t.Fatal("no unverified compartment in the golden store")
	}
	if err := st.Resolve(ctx, unverified, true, "op", "golden"); err != nil {
		t.Fatal(err)
	}
	if p, err := st.ParcelInfo("p-3"); err != nil || p.State != StateDeposited {
		t.Fatalf("p-3 resolved as inside: %+v %v", p, err)
	}
	if n, err := st.VerifyAudit(); err != nil || n == 0 {
		t.Fatalf("audit after work on the golden store: %d %v", n, err)
	}
}

// openGolden opens a copy of the fixture in dir at goldenNow.
func openGolden(t *testing.T, dir string) *Station {
	t.Helper()
	state := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "expect.json" && e.Name() != "fleet.key" {
			copyFile(t, filepath.Join(dir, e.Name()), filepath.Join(state, e.Name()))
		}
	}
	hexKey, err := os.ReadFile(filepath.Join(dir, "fleet.key"))
	if err != nil {
		t.Fatal(err)
	}
	var fleetPriv [32]byte
	if n, err := hex.Decode(fleetPriv[:], bytes.TrimSpace(hexKey)); err != nil || n != 32 {
		t.Fatalf("fleet.key: %v", err)
	}
	id, err := privacy.LoadOrCreateIdentity(state)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := privacy.DeriveKeys(id, publicOf(fleetPriv), "LK-T1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := privacy.OpenKeyring(state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kr.Close() })
	hw := &fakeHW{fail: map[CompartmentID]error{}, open: map[CompartmentID]bool{}}
	st, err := Open(Options{LockerID: "LK-T1", StorePath: filepath.Join(state, "store.db"), OpenStore: boltstore.Open, Compartments: mixedSpecs(),
		Policy: DefaultPolicy(), Keys: keys, Keyring: kr, Unlocker: hw, Doors: hw,
		Clock: &fakeClock{t: goldenNow}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// goldenSnapshot is what st holds, read through the public API only, as indented JSON.
func goldenSnapshot(t *testing.T, st *Station) []byte {
	t.Helper()
	snap := map[string]any{}
	put := func(name string, v any, err error) {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		snap[name] = v
	}
	inv, err := st.Inventory()
	put("inventory", inv, err)
	status, err := st.Status()
	// Members added after store-v1 was written (ADR 0046); TestGoldenStore checks them.
	status.LegacyParcels, status.CodeFailures24h = 0, 0
	put("status", status, err)
	for _, id := range goldenParcels {
		p, err := st.ParcelInfo(id)
		if errors.Is(err, ErrUnknownParcel) {
			snap["parcel "+string(id)], err = "unknown", nil
			continue
		}
		put("parcel "+string(id), p, err)
	}
	for _, id := range goldenCommands {
		reply, _, known, err := storedCommand(st, id)
		put("command "+id, map[string]any{"reply": string(reply), "known": known}, err)
	}
	pending, err := st.outboxPending(0, 1000)
	put("outbox", pending, err)
	snap["outbox_len"] = st.outboxLen()
	wire, err := st.WireOutbox(goldenKeep).Pending(0, 1000)
	put("wire", wire, err)
	n, err := st.VerifyAudit()
	put("audit_entries", n, err)
	log, err := st.AuditRange(0, 1<<62, 1000)
	put("audit", log, err)
	opens, err := st.RemoteOpensSince(testStart.Add(-time.Hour))
	put("remote_opens", opens, err)
	snap["policy_version"] = st.Policy().Version
	b, err := json.MarshalIndent(snap, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// storedCommand reads command id from st's command log.
func storedCommand(st *Station, id string) (reply []byte, done, known bool, err error) {
	err = st.ViewCommands(func(log store.CommandReader) error {
		var err error
		reply, done, known, err = log.Command(id)
		return err
	})
	return reply, done, known, err
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
