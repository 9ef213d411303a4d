package firmware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/lockerd/lockerd/firmware/cloudlink"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/firmware/metrics"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/clock"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store/boltstore"
)

// Version is the firmware version, set at build time with -ldflags "-X ...".
var Version = "dev"

// Options are what a caller of Run can add to the configuration.
type Options struct {
	// Observer is told of every committed event (the simulator prints them). It must
	// not block.
	Observer func(locker.Event)
	// Ready is called once the station serves requests.
	Ready func()
	// Hardware changes how the drivers are opened (fake pins) and the panel's display.
	Hardware HardwareOptions
	// TPM, when set, is the TPM of keys: tpm instead of tpm.device (tests: a swtpm).
	TPM transport.TPM
	// Time, when set, is the station's knowledge of the time instead of one on the
	// system's clocks and time service (tests: a fake clock;
	// docs/adr/0058-time-without-a-clock-chip.md).
	Time *clock.Trust
	// Kiosk, when set, is told the kiosk screen's URL once it listens (the simulator
	// prints it; kiosk.listen "127.0.0.1:0" picks a free port).
	Kiosk func(url string)
	// SharedProcess leaves the Go runtime's collector settings (GC percent, soft
	// memory limit) to the caller. They are process-wide: lockerd sets them for a
	// process that is one station, and a process that runs many (the fleet
	// simulator, sim/fleetsim) would otherwise have each station impose a limit
	// sized for one — a thousand stations' heap above one station's limit keeps the
	// collector running without pause.
	SharedProcess bool
}

// StorePath is the station's store inside the state directory.
func StorePath(cfg *config.Config) string { return filepath.Join(cfg.StateDir, "station.db") }

// RuntimeDir is the directory the systemd unit gives lockerd (RuntimeDirectory=lockerd,
// mode 0750: reachable by the lockerd group, unlike the state directory).
const RuntimeDir = "/run/lockerd"

// SocketPath is the control socket the config names, or its default: in RuntimeDir
// while it exists (the unit creates it, and removes it when lockerd stops), else in
// the state directory (0700: lockerd's user only).
func SocketPath(cfg *config.Config) string {
	if cfg.Control.Socket != "" {
		return cfg.Control.Socket
	}
	if fi, err := os.Stat(RuntimeDir); err == nil && fi.IsDir() {
		return filepath.Join(RuntimeDir, "control.sock")
	}
	return filepath.Join(cfg.StateDir, "control.sock")
}

// Secrets loads (creating on first start) the device identity of keys: file and
// derives its keys. OpenKeys opens whichever store the config names.
func Secrets(cfg *config.Config) (*privacy.Identity, *privacy.Keys, error) {
	if cfg.KeyStore() != config.KeysFile {
		return nil, nil, errors.New("firmware: the station's keys are in a TPM (keys: tpm): there is no identity.key")
	}
	id, err := privacy.LoadOrCreateIdentity(cfg.StateDir)
	if err != nil {
		return nil, nil, err
	}
	fleet, err := fleetX25519(cfg)
	if err != nil {
		return nil, nil, err
	}
	keys, err := privacy.DeriveKeys(id, fleet, cfg.LockerID)
	if err != nil {
		return nil, nil, err
	}
	return id, keys, nil
}

// Run is lockerd: it runs the station described by cfg until ctx ends, then shuts down
// cleanly (outputs safe, store closed). It returns nil after a cancellation.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, opt Options) (err error) {
	hardenProcess(log)
	logIntegrity(log)
	if os.Getenv("GOGC") == "" && !opt.SharedProcess {
		debug.SetGCPercent(locker.GCPercent)
	}
	// A soft limit below the unit's MemoryMax: the collector runs harder as the heap
	// nears it, rather than the kernel killing lockerd at the hard limit.
	if os.Getenv("GOMEMLIMIT") == "" && !opt.SharedProcess {
		debug.SetMemoryLimit(cfg.MemoryLimit())
	}
	if cfg.Control.Admin && cfg.MQTT.Enabled() {
		if cfg.Control.AdminOverride == "" {
			return errors.New("firmware: control.admin is refused while mqtt.broker is set, unless control.admin_override gives the reason")
		}
		log.Warn("control socket admin endpoints enabled beside the cloud link", "admin_override", cfg.Control.AdminOverride)
	}
	// Outputs to their safe level first thing (architecture §4-5): opening the drivers drives
	// every relay off, and a start that fails later (secrets, store) still halts them
	// on the way out rather than leaving a relay as the boot left it.
	hw, err := OpenHardware(cfg, log, opt.Hardware)
	if err != nil {
		return err
	}
	defer func() {
		if herr := hw.Close(); herr != nil {
			log.Error("halting drivers", "err", herr)
		}
	}()
	// What `lockerd check` reports about this machine, in its words (firmware/check.go).
	if err := hostCheck(cfg, log, runPins(cfg, opt.Hardware)); err != nil {
		return err
	}
	keys, err := OpenKeys(cfg, log, opt.TPM)
	if err != nil {
		return err
	}
	defer keys.Close()
	logExposure(cfg, log)
	if err := keys.TakeInBrokerSecrets(cfg, log); err != nil {
		// As with any broker file problem: the station serves offline (below).
		log.Error("keys: tpm: broker secrets not sealed", "err", err)
	}
	keyring, err := keys.OpenKeyring(cfg.StateDir)
	if err != nil {
		return err
	}
	defer keyring.Close()

	specs, err := compartmentSpecs(cfg)
	if err != nil {
		return err
	}
	if opt.Time == nil {
		// Expiry and purges wait for a trusted time (docs/adr/0058-time-without-a-clock-chip.md).
		opt.Time = clock.New(clock.NewSystem(), clock.SystemSynced, clock.DefaultPolicy())
		opt.Time.RaiseFloor(clock.BuildTime())
	}
	observer := opt.Observer
	var prom *metrics.Metrics
	if cfg.Metrics.Listen != "" {
		prom = metrics.New(metrics.Sources{Drivers: func() []metrics.Driver { return metricDrivers(hw.Health()) },
			StorePath: StorePath(cfg), Version: Version}, log.With("unit", "metrics"))
		observer = func(ev locker.Event) {
			prom.Observe(ev)
			if opt.Observer != nil {
				opt.Observer(ev)
			}
		}
	}
	st, err := locker.Open(locker.Options{LockerID: cfg.LockerID, StorePath: StorePath(cfg), OpenStore: boltstore.Open, Compartments: specs,
		Policy: cfg.Policy.Station(), Keys: keys.Store, Keyring: keyring, Unlocker: hw, Doors: hw,
		Logger: log, Observer: observer, Time: opt.Time})
	if err != nil {
		return err
	}
	defer st.Close()

	hw.waitReady(ctx, 3*time.Second)
	hw.SetDoorSink(st.DoorChanged)
	if err := st.Reconcile(ctx); err != nil {
		return err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	goFn := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				cancel(fmt.Errorf("firmware: %s: %w", name, err))
			}
		}()
	}
	var cl *cloudlink.Link
	status := "serving"
	updater := newUpdater(cfg, st, log) // nil without update.release_keys (updates.go)
	if cfg.MQTT.Enabled() {
		var updates cloudlink.Updates
		if updater != nil {
			updates = updater
		}
		if cl, err = newCloudLink(cfg, st, hw, keys.PublicHex(), keys.Store.EventKey(), updates, log); err != nil {
			// A cloud link that cannot start (a missing or exposed secret file) is no
			// reason to stop serving pickups and deposits: the station works offline
			// and its events wait in the outbox until the link is fixed and lockerd
			// restarted. `lockerd check` reports the same problem beforehand.
			log.Error("cloud link not started; serving offline until the mqtt section is fixed", "err", err)
			status = "serving offline: cloud link not started (see the log)"
			cl = nil
		}
	}
	ln, err := control.Listen(SocketPath(cfg))
	if err != nil {
		return err
	}
	srv := control.NewServer(st, control.IdentityReply{LockerID: cfg.LockerID, Public: keys.PublicHex()}, cfg.Control.Admin, log)
	srv.PanelUIDs(cfg.Control.PanelUIDs)
	srv.ServeDrivers(func() []control.DriverStatus { return driverStatus(hw.Health()) })
	goFn("station timers", func(ctx context.Context) error { return st.Run(ctx, 200*time.Millisecond) })
	goFn("control socket", func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	goFn("systemd watchdog", func(ctx context.Context) error { return watchdog(ctx, st.Healthy) })
	pc := panelConfig(cfg)
	kio, kln := openKiosk(cfg, pc, opt, hw)
	goFn("front panel", hw.frontPanel(st, pc, opt.Hardware.Display, kio))
	if kio != nil {
		goFn("kiosk", func(ctx context.Context) error { return kio.Serve(ctx, kln) })
	}
	if cl != nil {
		goFn("cloud link", cl.Run)
	}
	if updater != nil {
		goFn("updates", updateLoop(cfg, st, hw, cl, updater, log))
	}
	if prom != nil {
		// A metrics port that cannot be bound is no reason to stop serving pickups.
		if mln, err := net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			log.Error("metrics not served", "listen", cfg.Metrics.Listen, "err", err)
		} else {
			prom.SetStatus(st.Status)
			if cl != nil {
				prom.SetLink(cl.Stats)
			}
			log.Info("metrics served", "url", "http://"+mln.Addr().String()+"/metrics")
			goFn("metrics", func(ctx context.Context) error { return prom.Serve(ctx, mln) })
		}
	}

	log.Info("lockerd ready", "locker", cfg.LockerID, "version", Version, "compartments", len(specs),
		"identity", keys.PublicHex()[:16])
	sdNotify("READY=1\nSTATUS=" + status)
	if opt.Ready != nil {
		opt.Ready()
	}
	<-ctx.Done()
	sdNotify("STOPPING=1")
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	log.Info("lockerd stopped")
	return nil
}

func compartmentSpecs(cfg *config.Config) ([]locker.CompartmentSpec, error) {
	var out []locker.CompartmentSpec
	for _, c := range cfg.Compartments {
		size, err := locker.ParseSize(c.Size)
		if err != nil {
			return nil, err
		}
		kind := locker.KindDoor
		if c.Kind == "shelf" {
			kind = locker.KindShelf
		}
		out = append(out, locker.CompartmentSpec{ID: locker.CompartmentID(c.ID), Label: c.Label, Size: size,
			Kind: kind, Capacity: c.Capacity})
	}
	return out, nil
}

// metricDrivers is the drivers' health as the metrics show it.
func metricDrivers(hs []DriverHealth) []metrics.Driver {
	out := make([]metrics.Driver, len(hs))
	for i, h := range hs {
		out[i] = metrics.Driver{Name: h.Name, Kind: h.Kind, OK: h.OK}
	}
	return out
}
