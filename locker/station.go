package locker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockerd/lockerd/locker/clock"
	"github.com/lockerd/lockerd/locker/courier"
	"github.com/lockerd/lockerd/locker/expiry"
	"github.com/lockerd/lockerd/locker/gate"
	"github.com/lockerd/lockerd/locker/lookup"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/session"
	"github.com/lockerd/lockerd/locker/store"
	"github.com/lockerd/lockerd/locker/subject"
)

// GCPercent is the garbage-collector setting lockerd runs a station with. Every commit
// materialises bbolt nodes, so a station allocates steadily while its live heap stays a
// few megabytes; at Go's default of 100 the collector runs often enough to show in the
// tail of code-to-unlock latency (docs/benchmarks.md). 400 trades ~15 MB of heap for it.
const GCPercent = 400

// Options wire a Station to its store, keys, hardware and clock.
type Options struct {
	LockerID     string
	StorePath    string       // the store's file, inside the state directory
	OpenStore    store.Opener // the storage engine: boltstore.Open in lockerd (docs/adr/0038-store-boundary.md)
	Compartments []CompartmentSpec
	Policy       Policy
	Keys         privacy.KeyStore // the digests of guessable inputs (docs/adr/0047-device-keys-in-a-tpm.md)
	Keyring      *privacy.Keyring
	Unlocker     Unlocker
	Doors        DoorReader
	Clock        Clock // nil: Time, or the wall clock
	// Time, when set, decides when the time is trusted: irreversible timers wait for
	// it, and the station's clock is Time.Now unless Clock is set
	// (docs/adr/0058-time-without-a-clock-chip.md). nil: the wall clock is trusted.
	Time   *clock.Trust
	Logger *slog.Logger // nil: slog.Default()
	// Observer, when set, is told of every event after its transition commits. It runs
	// with the station locked: it must not block or call back into the Station.
	Observer func(Event)
}

// Station is one locker or staffed pickup station. Its methods are safe for concurrent
// use; they serialise on one lock, and every transition is one store transaction.
type Station struct {
	mu       sync.Mutex
	id       string
	store    store.Store
	keys     privacy.KeyStore
	keyring  *privacy.Keyring
	couriers courier.Book // sealed courier records (couriers.go)
	subjects subject.Book // the audit log's pseudonyms (subjects.go)
	index    lookup.Index // parcels by sealed digest (lookup.go)
	unlocker Unlocker
	doors    DoorReader
	clock    Clock
	log      *slog.Logger
	observer func(Event)

	policy  Policy
	comps   map[CompartmentID]*Compartment
	order   []CompartmentID
	codeThr gate.Lockout // the legacy-code lock-out (ADR 0046)
	courThr gate.Lockout

	gate      *gate.Gate  // spaces code evaluations (codegate.go)
	codeGate  gate.Record // its stored state
	codeAlarm gate.Window // RAM: failed codes in the last hour
	qrAlarm   gate.Window // RAM: failed QR scans in the last hour

	sessions   session.Sessions  // courier logins, RAM only
	handovers  session.Handovers // staffed mode: code entries whose shelf parcels await staff's scan
	recentScan session.Scans     // RAM only: repeat-scan suppression
	unsettled  session.Unsettled // operations Reconcile left for a door sensor's first report
	pulsing    session.Holds     // doors whose unlock is under way (doors.go)
	wake       chan struct{}
	closed     bool
	lastTick   atomic.Int64 // monoBase-relative nanos of the last good timer pass, 0: none yet
	// monoBase anchors lastTick on the monotonic clock: a wall clock stepped at boot
	// (NTP on a Pi without an RTC) must not starve the systemd watchdog.
	monoBase  time.Time
	lastShred time.Time // station clock: when past epochs were last checked for shredding
	lastPrune time.Time // station clock: when the audit log was last pruned
	trust     *clock.Trust
	timeKept  expiry.Clock // when the clock floor was last stored
}

// Open opens (creating on first start) the station's store, merges the configured
// compartments into it and returns a Station ready for Reconcile.
func Open(opt Options) (*Station, error) {
	if opt.Keys == nil || opt.Keyring == nil {
		return nil, errors.New("locker: keys and keyring are required")
	}
	if opt.Unlocker == nil || opt.Doors == nil {
		return nil, errors.New("locker: unlocker and door reader are required")
	}
	if err := opt.Policy.Validate(); err != nil {
		return nil, err
	}
	if err := model.ValidateSpecs(opt.Compartments); err != nil {
		return nil, err
	}
	if opt.OpenStore == nil {
		return nil, errors.New("locker: a store engine (OpenStore) is required")
	}
	db, err := opt.OpenStore(store.Options{Path: opt.StorePath, AuditKey: opt.Keys.AuditKey(), Keyring: opt.Keyring})
	if err != nil {
		return nil, err
	}
	s := &Station{
		id: opt.LockerID, store: db, keys: opt.Keys, keyring: opt.Keyring, couriers: courier.Book{Keyring: opt.Keyring},
		subjects: subject.Book{Keyring: opt.Keyring},
		index:    lookup.Index{Keyring: opt.Keyring},
		unlocker: opt.Unlocker, doors: opt.Doors, clock: opt.Clock, log: opt.Logger,
		observer: opt.Observer, policy: opt.Policy,
		comps: map[CompartmentID]*Compartment{}, sessions: session.Sessions{},
		monoBase: time.Now(), handovers: session.Handovers{}, recentScan: session.Scans{},
		pulsing: session.Holds{},
		wake:    make(chan struct{}, 1),
	}
	if s.trust = opt.Time; s.clock == nil && s.trust != nil {
		s.clock = s.trust
	}
	if s.clock == nil {
		s.clock = SystemClock
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("unit", "locker")
	if err := s.load(opt.Compartments); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.collectCourierKeys(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.collectSubjectKeys(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.loadClockFloor(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Station) load(specs []CompartmentSpec) error {
	return s.store.Update(func(t store.Tx) error {
		mig, err := t.Init(s.id)
		if err != nil {
			return err
		}
		s.logMigration(mig)
		var stored Policy
		if _, err := t.GetMeta(store.MetaPolicy, &stored); err != nil {
			return fmt.Errorf("locker: stored policy: %w", err)
		}
		// A newer policy the cloud pushed outranks the configuration file's, for the
		// values a policy command sets: the others (audit_keep, session_idle, ...)
		// stay the file's, so that editing them there still takes effect.
		if merged := s.policy.WithCloud(stored); stored.Version > s.policy.Version && merged.Validate() == nil {
			s.policy = merged
		}
		// Epochs number the keys in units of epoch_length, fixed for a store.
		if err := t.EpochLength(s.policy.EpochLength); err != nil {
			return err
		}
		if _, err := t.GetMeta(store.MetaCodeThrottle, &s.codeThr); err != nil {
			return fmt.Errorf("locker: stored throttle: %w", err)
		}
		if _, err := t.GetMeta(store.MetaCourierThrottle, &s.courThr); err != nil {
			return fmt.Errorf("locker: stored throttle: %w", err)
		}
		if err := s.legacyDefault(t, stored); err != nil {
			return err
		}
		if err := s.loadCodeGate(t); err != nil {
			return err
		}
		// Every event is in the audit log, written in its transaction: the log's head is
		// the event sequence.
		damaged, err := t.ResumeAudit()
		if err != nil {
			return err
		}
		if damaged != nil {
			// A damaged checkpoint does not stop the station; `lockerd audit` reports it.
			s.log.Error("audit checkpoint unreadable; the log starts again at 1", "err", damaged)
		}
		return s.mergeCompartments(t, specs)
	})
}

// mergeCompartments lays the configured compartments over the stored ones and writes
// the result (model.MergeStored).
func (s *Station) mergeCompartments(t store.Tx, specs []CompartmentSpec) error {
	var kept []CompartmentID
	var err error
	s.comps, s.order, kept, err = model.MergeStored(t, specs, s.subjects.Open, s.subjects.AtRestNewest)
	for _, id := range kept {
		s.log.Warn("compartment left the config but holds parcels; kept disabled", "compartment", int(id))
	}
	return err
}

// Close stops the station and closes its store. Doors are left as they are: the driver
// layer puts outputs in their safe state.
func (s *Station) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.store.Close()
}

// Policy returns the policy in force.
func (s *Station) Policy() Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.policy
}

// Run drives the station's timers (jammed doors, doors left open, idle sessions,
// expiry, purges) until ctx ends. It returns nil on cancellation.
func (s *Station) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.Tick(); err != nil && !errors.Is(err, ErrClosed) {
				s.log.Error("tick", "err", err)
				continue
			}
			s.lastTick.Store(max(int64(time.Since(s.monoBase)), 1))
		}
	}
}

// Healthy reports whether Run completed a timer pass within maxAge: the systemd
// watchdog is fed only while the station's own loop makes progress.
func (s *Station) Healthy(maxAge time.Duration) bool {
	last := s.lastTick.Load()
	return last != 0 && time.Since(s.monoBase)-time.Duration(last) < maxAge
}

func (s *Station) epochOf(t time.Time) uint32 {
	return uint32(t.Unix() / int64(s.policy.EpochLength/time.Second))
}

// liveEpochs returns the epochs whose keys still exist, newest first: lookups try each.
func (s *Station) liveEpochs() []uint32 {
	e := s.epochKeys()
	slices.Reverse(e)
	return e
}
