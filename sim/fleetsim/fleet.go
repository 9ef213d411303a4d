// Package fleetsim runs a fleet of lockers in one process against a broker, for the
// fleet side's tests and benchmarks (docs/fleet.md): each locker is a real lockerd
// (firmware.Run) with its own store, its own keys and its own MQTT session through the
// real mqtt/link, on virtual hardware cheap enough for a thousand of them — GPIO doors
// on in-memory pins with a virtual person who opens and shuts each door after its
// relay pulses (drivers/gpiodoor/gpiodoortest), no ptys. Put Options.Dir on a tmpfs
// (/dev/shm): a fleet run measures the fleet side and the broker, not flash.
package fleetsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lockerd/lockerd/drivers/gpiodoor/gpiodoortest"
	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/sim"
)

// Options shape a fleet.
type Options struct {
	Lockers int // how many; ids L-0001, L-0002, ...
	Doors   int // GPIO doors per locker; default 8
	// Dir holds each locker's config, state directory and control socket
	// (Dir/<id>/...). A tmpfs keeps a thousand stores off the disk.
	Dir   string
	Cloud *sim.Cloud // the fleet's keys (sim.NewCloud)
	// Account returns a locker's mqtt section: the broker URLs and the account it
	// logs in with (a password file under dir, which exists).
	Account func(lockerID, dir string) (config.MQTT, error)
	// Person is what people do after a door's relay pulses; default: open it 50 ms
	// later, shut it 150 ms after that.
	Person gpiodoortest.Policy
	Log    *slog.Logger // each locker's lockerd logs here with its id; default: discarded
	// LogLevel is lockerd's level (default warn: a thousand lockers at info is noise).
	LogLevel string
}

// Locker is one simulated locker.
type Locker struct {
	ID      string
	Config  *config.Config
	Cabinet *gpiodoortest.Cabinet

	log    *slog.Logger
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

// Fleet is the lockers.
type Fleet struct {
	Lockers []*Locker
	byID    map[string]*Locker
}

// pulse is the GPIO doors' relay pulse: short, so that a thousand lockers' doors
// turn over quickly.
const pulse = 100 * time.Millisecond

// New writes every locker's config and builds its cabinet; nothing runs until Start.
func New(o Options) (*Fleet, error) {
	if o.Doors == 0 {
		o.Doors = 8
	}
	if o.Person == nil {
		o.Person = gpiodoortest.OpenThenClose(50*time.Millisecond, 150*time.Millisecond)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	f := &Fleet{byID: map[string]*Locker{}}
	for i := range o.Lockers {
		l, err := newLocker(o, fmt.Sprintf("L-%04d", i+1))
		if err != nil {
			f.Close()
			return nil, err
		}
		f.Lockers = append(f.Lockers, l)
		f.byID[l.ID] = l
	}
	return f, nil
}

func newLocker(o Options, id string) (*Locker, error) {
	dir := filepath.Join(o.Dir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fleetsim: %w", err)
	}
	mqtt, err := o.Account(id, dir)
	if err != nil {
		return nil, fmt.Errorf("fleetsim: %s: %w", id, err)
	}
	cfg := &config.Config{
		LockerID: id,
		StateDir: filepath.Join(dir, "state"),
		Log:      config.Log{Level: o.LogLevel, Format: "text"},
		Fleet:    config.Fleet{X25519Public: o.Cloud.FleetPublicHex(), Ed25519Public: o.Cloud.SigningPublicHex()},
		MQTT:     mqtt,
		Control:  config.Control{Socket: filepath.Join(dir, "control.sock")},
		Kiosk:    config.Kiosk{Listen: new(string)}, // no screen: a thousand lockers share one loopback
	}
	doors := config.GPIODoors{Name: "gpio", Pulse: pulse}
	var specs []gpiodoortest.DoorSpec
	for i := range o.Doors {
		name, relay, sensor := fmt.Sprintf("g%d", i+1), fmt.Sprintf("GPIO%d", 100+i), fmt.Sprintf("GPIO%d", 200+i)
		specs = append(specs, gpiodoortest.DoorSpec{Name: name, Relay: relay, Sensor: sensor})
		doors.Doors = append(doors.Doors, config.GPIODoor{Name: name, Relay: relay, Sensor: sensor})
		size := []string{"S", "S", "M", "M", "L", "XL"}[i%6]
		cfg.Compartments = append(cfg.Compartments, config.Compartment{ID: i + 1, Label: fmt.Sprintf("G%02d", i+1),
			Size: size, Door: config.Door{Driver: "gpio", Lock: i + 1}})
	}
	cfg.Hardware.GPIODoors = []config.GPIODoors{doors}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "lockerd.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("fleetsim: %w", err)
	}
	// Read back through the real loader, as lockerd would.
	if cfg, err = config.Load(path); err != nil {
		return nil, err
	}
	cab, err := gpiodoortest.NewCabinet(specs, o.Person)
	if err != nil {
		return nil, err
	}
	return &Locker{ID: id, Config: cfg, Cabinet: cab, log: o.Log.With("locker", id)}, nil
}

// Locker returns the locker with id, nil if none.
func (f *Fleet) Locker(id string) *Locker { return f.byID[id] }

// Start runs the locker's lockerd until Stop or ctx's end, and returns once it serves.
// observe, if not nil, sees every event the station commits.
func (l *Locker) Start(ctx context.Context, observe func(locker.Event)) error {
	l.mu.Lock()
	if l.cancel != nil {
		l.mu.Unlock()
		return fmt.Errorf("fleetsim: %s is running", l.ID)
	}
	rctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	done := make(chan error, 1)
	l.cancel, l.done = cancel, done
	l.mu.Unlock()
	var opt firmware.Options
	// A thousand stations in one process: none may set the collector's limits for
	// the whole process (a limit sized for one station is below the fleet's heap).
	opt.SharedProcess = true
	opt.Hardware.Pins = l.Cabinet.ByName
	opt.Observer = observe
	opt.Ready = func() { close(ready) }
	go func() { done <- firmware.Run(rctx, l.Config, l.log, opt) }()
	select {
	case <-ready:
		return nil
	case err := <-done:
		done <- err
		l.mu.Lock()
		l.cancel = nil
		l.mu.Unlock()
		cancel()
		return fmt.Errorf("fleetsim: %s did not start: %w", l.ID, err)
	case <-ctx.Done():
		l.Stop()
		return ctx.Err()
	}
}

// Stop stops the locker's lockerd (a clean stop: the station goes offline as a
// locker whose power is switched off by its operator does) and waits for it.
func (l *Locker) Stop() error {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.cancel = nil
	l.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("fleetsim: %s: %w", l.ID, err)
	}
	return nil
}

// Running reports whether the locker's lockerd runs.
func (l *Locker) Running() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cancel != nil
}

// Identity creates the locker's device identity if it has none and returns its
// public key, as `lockerd identity` does at installation (lockerd not running).
func (l *Locker) Identity() (string, error) {
	keys, err := firmware.OpenKeys(l.Config, l.log, nil)
	if err != nil {
		return "", err
	}
	defer keys.Close()
	return keys.PublicHex(), nil
}

// Client is a control-API client for the locker (the front panel's rights: the
// process is the lockerd user, so it has all of them).
func (l *Locker) Client() *control.Client { return control.NewClient(firmware.SocketPath(l.Config)) }

// StartAll starts every locker, at most parallel at a time.
func (f *Fleet) StartAll(ctx context.Context, parallel int, observe func(locker.Event)) error {
	sem := make(chan struct{}, max(parallel, 1))
	errs := make(chan error, len(f.Lockers))
	var wg sync.WaitGroup
	for _, l := range f.Lockers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- l.Start(ctx, observe)
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// Close stops every locker and its cabinet.
func (f *Fleet) Close() error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, l := range f.Lockers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := errors.Join(l.Stop(), l.Cabinet.Close())
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
