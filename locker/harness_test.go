package locker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store/boltstore"
)

// fakeHW is a station's hardware in memory: doors that open only when the test says so.
type fakeHW struct {
	mu      sync.Mutex
	unlocks []CompartmentID
	fail    map[CompartmentID]error
	open    map[CompartmentID]bool
	unknown bool
}

func (h *fakeHW) Unlock(_ context.Context, id CompartmentID) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.fail[id]; err != nil {
		return err
	}
	h.unlocks = append(h.unlocks, id)
	return nil
}

func (h *fakeHW) DoorOpen(id CompartmentID) (bool, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open[id], !h.unknown
}

func (h *fakeHW) unlocked() []CompartmentID {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]CompartmentID(nil), h.unlocks...)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// AfterFunc jumps the clock to the timer's time and fires it, as if the caller had
// waited: the code gate's waits pass at once in these tests (the gate's own tests and
// the keypad simulation drive time explicitly).
func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.Advance(d)
	go f()
	return func() bool { return false }
}
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a station with fake hardware and the cloud's side of its keys.
type fixture struct {
	t      testing.TB
	dir    string
	st     *Station
	hw     *fakeHW
	clock  *fakeClock
	cloud  *privacy.Keys
	logs   *bytes.Buffer
	events []Event
	opt    Options

	fleetPriv [32]byte
}

// testPhone is the last four digits of every test recipient's phone.
const testPhone = "4321"

// noLegacy is the absent scheme-1 verifier.
var noLegacy privacy.Digest

var testStart = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// mixedSpecs is a small locker: 2 S, 2 M, 1 L, 1 XL.
func mixedSpecs() []CompartmentSpec {
	sizes := []Size{SizeS, SizeS, SizeM, SizeM, SizeL, SizeXL}
	var out []CompartmentSpec
	for i, s := range sizes {
		out = append(out, CompartmentSpec{ID: CompartmentID(i + 1), Size: s, Kind: KindDoor})
	}
	return out
}

func newFixture(t testing.TB, specs []CompartmentSpec) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: filepath.Join(t.TempDir(), "state"), hw: &fakeHW{fail: map[CompartmentID]error{}, open: map[CompartmentID]bool{}},
		clock: &fakeClock{t: testStart}, logs: &bytes.Buffer{}}
	id, err := privacy.LoadOrCreateIdentity(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	fleetPriv, fleetPub, err := privacy.GenerateFleetKey()
	if err != nil {
		t.Fatal(err)
	}
	f.fleetPriv = fleetPriv
	keys, err := privacy.DeriveKeys(id, fleetPub, "LK-T1")
	if err != nil {
		t.Fatal(err)
	}
	if f.cloud, err = privacy.DeriveCloudKeys(fleetPriv, id.Public(), "LK-T1"); err != nil {
		t.Fatal(err)
	}
	f.opt = Options{LockerID: "LK-T1", StorePath: f.dir + "/store.db", OpenStore: boltstore.Open, Compartments: specs,
		Policy: DefaultPolicy(), Keys: keys, Unlocker: f.hw, Doors: f.hw, Clock: f.clock,
		Logger:   slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observer: func(e Event) { f.events = append(f.events, e) }}
	f.open()
	t.Cleanup(func() { f.st.Close(); f.opt.Keyring.Close() })
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	kr, err := privacy.OpenKeyring(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	f.opt.Keyring = kr
	if f.st, err = Open(f.opt); err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.Reconcile(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// restart closes and reopens the station as a power cycle would (RAM state lost).
func (f *fixture) restart() {
	f.t.Helper()
	if err := f.st.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.opt.Keyring.Close()
	f.open()
}

func (f *fixture) announce(id ParcelID, tracking, code string, size Size) {
	f.t.Helper()
	a := Announcement{ID: id, Waybill: f.cloud.Waybill(tracking), Size: size, Hint: "…" + tracking[len(tracking)-4:]}
	if code != "" {
		a.Code = f.cloud.CodeVerifier2(code, testPhone)
	}
	res, err := f.st.Announce(context.Background(), []Announcement{a})
	if err != nil || res[0] != nil {
		f.t.Fatalf("announce %s: %v %v", id, err, res)
	}
}

func (f *fixture) courier(id, badge, pin string, r Rights) string {
	f.t.Helper()
	if err := f.st.UpsertCourier(context.Background(), Courier{ID: id, Badge: f.cloud.Badge(badge), Verifier: f.cloud.Courier(badge, pin), Rights: r}); err != nil {
		f.t.Fatal(err)
	}
	sid, err := f.st.Login(context.Background(), badge, pin)
	if err != nil {
		f.t.Fatal(err)
	}
	return sid
}

// door simulates a person opening and closing a door.
func (f *fixture) door(id CompartmentID, open bool) {
	f.hw.mu.Lock()
	f.hw.open[id] = open
	f.hw.mu.Unlock()
	f.st.DoorChanged(id, open)
}

func (f *fixture) openClose(id CompartmentID) {
	f.door(id, true)
	f.clock.Advance(2 * time.Second)
	f.door(id, false)
}

func (f *fixture) parcel(id ParcelID) Parcel {
	f.t.Helper()
	p, err := f.st.ParcelInfo(id)
	if err != nil {
		f.t.Fatalf("parcel %s: %v", id, err)
	}
	return p
}

func (f *fixture) comp(id CompartmentID) Compartment {
	for _, c := range f.st.Compartments() {
		if c.ID == id {
			return c
		}
	}
	f.t.Fatalf("no compartment %d", id)
	return Compartment{}
}

func (f *fixture) tick(d time.Duration) {
	f.t.Helper()
	f.clock.Advance(d)
	if err := f.st.Tick(); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) eventTypes() []EventType {
	var out []EventType
	for _, e := range f.events {
		out = append(out, e.Type)
	}
	return out
}

// lastEvent returns the last event of type typ (failing the test when there is none).
func (f *fixture) lastEvent(typ EventType) Event {
	f.t.Helper()
	for i := len(f.events) - 1; i >= 0; i-- {
		if f.events[i].Type == typ {
			return f.events[i]
		}
	}
	f.t.Fatalf("no %s event in %v", typ, f.eventTypes())
	return Event{}
}

func (f *fixture) countEvents(t EventType) int {
	n := 0
	for _, e := range f.events {
		if e.Type == t {
			n++
		}
	}
	return n
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// commits returns the id of the store's last write transaction: each commit (and
// fsync) adds one.
func (f *fixture) commits() int {
	f.t.Helper()
	var id int
	if err := f.st.db().View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		f.t.Fatal(err)
	}
	return id
}
