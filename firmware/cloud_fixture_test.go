package firmware_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store/boltstore"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/mqtttest"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// cloudCN is the broker identity of the test's fleet client (a client certificate).
const cloudCN = "fleet-cloud"

// observerCN may read every topic on the test broker.
const observerCN = "observer"

// cloudWorld is a real mosquitto with per-locker ACLs, a virtual station whose lockerd
// connects to it with a client certificate, and the simulated cloud on the same broker.
type cloudWorld struct {
	broker  *mqtttest.Broker
	cloud   *sim.Cloud
	client  *fleet.Client
	station *sim.Station
}

type cloudWorldOptions struct {
	lockerID    string
	boards      int
	locks       int
	person      lockboardtest.Policy
	mqtt        func(*config.MQTT)
	policy      config.Policy
	logLevel    string
	persistence bool
	resend      time.Duration // the cloud's re-send interval; default 3s
	// plain connects lockerd to the password listener (password_file) instead of
	// the TLS one; plainUsers are further accounts there (password = name + "-pw").
	plain      bool
	plainUsers []string
}

// newCloudWorld starts the broker, writes the station's config (mqtt section with TLS
// client certificate files) and connects the cloud. lockerd is not started.
func newCloudWorld(t testing.TB, o cloudWorldOptions) *cloudWorld {
	t.Helper()
	if o.locks == 0 {
		o.locks = 8
	}
	if o.boards == 0 {
		o.boards = 1
	}
	if o.person == nil {
		o.person = lockboardtest.OpenThenClose(30*time.Millisecond, 200*time.Millisecond)
	}
	b := mqtttest.Start(t, mqtttest.Options{CloudCNs: []string{cloudCN}, Persistence: o.persistence, Observers: []string{observerCN},
		Users: plainUsers(o)})
	sc, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	cert, key := b.ClientCertFiles(o.lockerID)
	m := config.MQTT{Broker: b.TLSURL(), CAFile: b.CAFile(), CertFile: cert, KeyFile: key,
		ReconnectMax: time.Second, HealthInterval: time.Hour}
	if o.plain {
		pw := filepath.Join(t.TempDir(), "mqtt-password")
		if err := os.WriteFile(pw, []byte(o.lockerID+"-pw\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		m = config.MQTT{Broker: b.URL(), PasswordFile: pw, ReconnectMax: time.Second, HealthInterval: time.Hour}
	}
	if o.mqtt != nil {
		o.mqtt(&m)
	}
	st, err := sim.NewStation(sim.StationOptions{LockerID: o.lockerID, Dir: t.TempDir(), Boards: o.boards, Locks: o.locks,
		Person: o.person, Cloud: sc, MQTT: m, Policy: o.policy, LogLevel: o.logLevel, History: 1_000_000,
		Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if o.resend == 0 {
		o.resend = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cl, err := sc.Connect(ctx, fleet.Config{Broker: b.TLSURL(), TLS: b.ClientTLS(cloudCN), ClientID: "fleet",
		Persistent: o.persistence, Timeout: 5 * time.Second, ResendAfter: o.resend, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &cloudWorld{broker: b, cloud: sc, client: cl, station: st}
}

// plainUsers are the password accounts of the test broker.
func plainUsers(o cloudWorldOptions) []mqtttest.User {
	users := []mqtttest.User{{Name: "cloud", Password: "cloud-pass", Cloud: true}}
	for _, name := range append([]string{o.lockerID}, o.plainUsers...) {
		users = append(users, mqtttest.User{Name: name, Password: name + "-pw"})
	}
	return users
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runInProcess runs lockerd in this process until the test ends.
func (w *cloudWorld) runInProcess(t testing.TB) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- w.station.Run(ctx, quietLog(), nil, func() { close(ready) }) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("lockerd: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("lockerd did not stop within 20s")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("lockerd did not start: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("lockerd not ready after 15s")
	}
	return stop
}

// online waits for the locker's birth message with a boot id other than notBoot.
func (w *cloudWorld) online(ctx context.Context, t testing.TB, notBoot string) protocol.Presence {
	t.Helper()
	p, err := w.client.AwaitPresence(ctx, w.station.ID, func(p protocol.Presence) bool {
		return p.State == protocol.Online && p.Boot != notBoot
	})
	if err != nil {
		t.Fatalf("locker never came online: %v\n%s", err, w.broker.Log())
	}
	return p
}

// eventLog collects the locker's events as the cloud receives them (de-duplicated and
// in seq order by mqtt/fleet) and checks that the seqs are dense.
type eventLog struct {
	t      testing.TB
	c      *fleet.Client
	events []fleet.Event
}

// next returns the next event, failing the test after timeout.
func (l *eventLog) next(ctx context.Context, timeout time.Duration) fleet.Event {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ev, err := l.c.NextEvent(ctx)
	if err != nil {
		l.t.Fatalf("no event: %v (so far: %s)", err, l.summary())
	}
	if n := len(l.events); n > 0 && ev.Seq != l.events[n-1].Seq+1 {
		l.t.Errorf("event seq %d follows %d", ev.Seq, l.events[n-1].Seq)
	}
	l.events = append(l.events, ev)
	return ev
}

// await returns the first event of type typ that matches, reading past others.
func (l *eventLog) await(ctx context.Context, typ protocol.EventType, match func(fleet.Event) bool) fleet.Event {
	l.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ev := l.next(ctx, time.Until(deadline))
		if ev.Type == typ && (match == nil || match(ev)) {
			return ev
		}
	}
	l.t.Fatalf("no %s event within 20s (so far: %s)", typ, l.summary())
	return fleet.Event{}
}

func (l *eventLog) summary() string {
	s := ""
	for _, e := range l.events {
		s += fmt.Sprintf(" %d:%s", e.Seq, e.Type)
	}
	return s
}

// provision enrols the locker over MQTT, gives it courier c-1 with both rights and
// announces parcels.
func (w *cloudWorld) provision(ctx context.Context, t testing.TB, badge, pin string, parcels []sim.Parcel) {
	t.Helper()
	if _, err := w.cloud.EnrolOver(ctx, w.client, w.station.ID); err != nil {
		t.Fatal(err)
	}
	body, err := w.cloud.WireCourier(w.station.ID, "c-1", badge, pin, protocol.RightDeposit, protocol.RightRetrieve)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.client.Do(ctx, w.station.ID, body); err != nil {
		t.Fatal(err)
	}
	if err := w.cloud.AnnounceOver(ctx, w.client, w.station.ID, parcels); err != nil {
		t.Fatal(err)
	}
}

// storedEvents opens the stopped station's store and returns its audit log: every
// event lockerd committed.
func storedEvents(t testing.TB, st *sim.Station) []locker.Event {
	t.Helper()
	_, keys, err := firmware.Secrets(st.Config)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := privacy.OpenKeyring(st.Config.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Close()
	var specs []locker.CompartmentSpec
	for _, c := range st.Config.Compartments {
		specs = append(specs, locker.CompartmentSpec{ID: locker.CompartmentID(c.ID), Size: locker.SizeS, Kind: locker.KindDoor})
	}
	s, err := locker.Open(locker.Options{LockerID: st.ID, StorePath: firmware.StorePath(st.Config), OpenStore: boltstore.Open, Compartments: specs,
		Policy: locker.DefaultPolicy(), Keys: keys, Keyring: kr, Unlocker: noHardware{}, Doors: noHardware{}, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.AuditRange(1, math.MaxUint64, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// doorOf maps a compartment of the test station to its board and lock.
func doorOf(c locker.CompartmentID, locks int) (board, lock int) {
	return (int(c) - 1) / locks, (int(c)-1)%locks + 1
}

// waitShut waits for the door of compartment c to be shut by the virtual person after
// board event seq0.
func waitShut(ctx context.Context, st *sim.Station, seq0 uint64, c locker.CompartmentID, locks int) error {
	board, lock := doorOf(c, locks)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := st.Boards.WaitEvent(wctx, seq0, lockboardtest.Is(lockboardtest.EventDoorClose, board, lock))
	return err
}
