package fleetsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockerd/lockerd/firmware/cloudlink"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// Traffic is a day of a fleet's traffic compressed into Day: the cloud enrols every
// locker and gives it a courier, announces parcels, a courier deposits them in a
// morning round, recipients pick them up through the rest of the day, and a share of
// the lockers goes offline once (lockerd stopped) and comes back. Every step goes
// through the real paths: commands over MQTT from the fleet side (mqtt/fleet),
// deposits and pickups through each locker's control socket, doors through its
// drivers and its virtual person.
type Traffic struct {
	Fleet  *Fleet
	Cloud  *sim.Cloud
	Client *fleet.Client // the fleet side: its events are checked
	// Day is the simulated day; default 2 minutes.
	Day time.Duration
	// Parcels per locker in the day; default half its doors.
	Parcels int
	// Offline is the share of lockers that go offline once, for a tenth of the day;
	// default 0.1.
	Offline float64
	// Parallel bounds lockers being enrolled or provisioned at once; default 32.
	Parallel int
	Seed     uint64
	Log      *slog.Logger

	obs      *observer
	counts   map[string]*Counts
	countsMu *sync.Mutex
}

// Report is what a day did, and what the fleet side saw.
type Report struct {
	Lockers   int
	Announced int
	Deposited int
	PickedUp  int
	Offline   int // lockers that went offline and came back
	// Events the fleet side received from the lockers, after de-duplication, and
	// what its event stream counted (duplicates dropped, events held back to restore
	// seq order, gaps, ...).
	Events int
	Stats  fleet.EventStats
	// PerLocker counts what each locker did; Pulses is every relay pulse of its
	// virtual cabinet, the hardware's own record: one per deposit, pickup and remote
	// opening, never more (a command run twice would pulse twice).
	PerLocker map[string]*Counts
	// Problems are the day's failures: an event missing, repeated or out of order at
	// the fleet side, a deposit or pickup refused. Empty on a good day.
	Problems []string
}

// Counts are one locker's day.
type Counts struct {
	Deposited, PickedUp, Opened int
	Pulses                      int
}

// observer counts, per locker, the events the station committed that go to the
// cloud: wire seqs run 1, 2, 3... so the count is the seq of the newest, the truth
// the fleet side's stream is held to.
type observer struct {
	mu   sync.Mutex
	last map[string]uint64
}

func (o *observer) observe(id string) func(locker.Event) {
	return func(ev locker.Event) {
		if !cloudlink.OnTheWire(ev) {
			return
		}
		o.mu.Lock()
		o.last[id]++
		o.mu.Unlock()
	}
}

// Start starts every locker with the observer Run needs; call it instead of
// Fleet.StartAll when a Traffic will run.
func (t *Traffic) Start(ctx context.Context) error {
	t.defaults()
	t.obs = &observer{last: map[string]uint64{}}
	sem := make(chan struct{}, t.Parallel)
	errs := make([]error, len(t.Fleet.Lockers))
	var wg sync.WaitGroup
	for i, l := range t.Fleet.Lockers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// Enrolment as at installation: the device's public key read locally
			// (`lockerd identity`) and registered with the cloud before the locker
			// first connects, so that its first event is verified too.
			pub, err := l.Identity()
			if err == nil {
				err = t.Cloud.Enrol(l.ID, pub)
			}
			if err != nil {
				errs[i] = fmt.Errorf("%s: enrolment: %w", l.ID, err)
				return
			}
			errs[i] = l.Start(ctx, t.obs.observe(l.ID))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (t *Traffic) defaults() {
	if t.Day <= 0 {
		t.Day = 2 * time.Minute
	}
	if t.Offline == 0 {
		t.Offline = 0.1
	}
	if t.Parallel <= 0 {
		t.Parallel = 32
	}
	if t.Log == nil {
		t.Log = slog.Default()
	}
}

type parcelPlan struct {
	p         sim.Parcel
	deposited atomic.Bool
}

// Run plays the day and checks the fleet side's events. The lockers must have been
// started with Start.
func (t *Traffic) Run(ctx context.Context) (*Report, error) {
	if t.obs == nil {
		return nil, errors.New("fleetsim: Traffic.Run before Traffic.Start")
	}
	rep := &Report{Lockers: len(t.Fleet.Lockers)}
	var mu sync.Mutex
	problem := func(format string, args ...any) {
		mu.Lock()
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// The fleet side consumes its events from the start: per locker, each seq once and
	// in order.
	seen := map[string]uint64{}
	var events atomic.Int64
	evctx, stopEvents := context.WithCancel(ctx)
	evdone := make(chan struct{})
	go func() {
		defer close(evdone)
		for {
			ev, err := t.Client.NextEvent(evctx)
			if err != nil {
				return
			}
			mu.Lock()
			if last := seen[ev.LockerID]; last != 0 && ev.Seq != last+1 {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s: event seq %d after %d", ev.LockerID, ev.Seq, last))
			}
			seen[ev.LockerID] = ev.Seq
			mu.Unlock()
			events.Add(1)
		}
	}()

	// Morning: enrol, a courier, the day's parcels.
	rng := rand.New(rand.NewPCG(t.Seed, 0x10c4e7))
	plans := map[string][]*parcelPlan{}
	for _, l := range t.Fleet.Lockers {
		n := t.Parcels
		if n <= 0 {
			n = max(len(l.Config.Compartments)/2, 1)
		}
		for range n {
			p := t.Cloud.NewParcel("S") // fits every door
			plans[l.ID] = append(plans[l.ID], &parcelPlan{p: p})
		}
	}
	const badge, pin = "FLEETSIM-COURIER-BADGE-0001", "24681357"
	if err := t.each(ctx, func(ctx context.Context, l *Locker) error {

		c, err := t.Cloud.WireCourier(l.ID, "courier-1", badge, pin, protocol.RightDeposit, protocol.RightRetrieve)
		if err != nil {
			return err
		}
		if _, err := t.Client.Do(ctx, l.ID, c); err != nil {
			return fmt.Errorf("courier-upsert: %w", err)
		}
		var ps []sim.Parcel
		for _, pp := range plans[l.ID] {
			ps = append(ps, pp.p)
		}
		return t.Cloud.AnnounceOver(ctx, t.Client, l.ID, ps)
	}); err != nil {
		stopEvents()
		<-evdone
		return nil, fmt.Errorf("fleetsim: provisioning: %w", err)
	}
	for _, ps := range plans {
		rep.Announced += len(ps)
	}

	// The day: per locker, a courier round in the first third, pickups spread over
	// the rest, and for some an outage.
	start := time.Now()
	at := func(f float64) time.Time { return start.Add(time.Duration(f * float64(t.Day))) }
	var deposited, picked, offline atomic.Int64
	rep.PerLocker = map[string]*Counts{}
	for _, l := range t.Fleet.Lockers {
		rep.PerLocker[l.ID] = &Counts{}
	}
	t.counts = rep.PerLocker
	t.countsMu = &mu
	var wg sync.WaitGroup
	for _, l := range t.Fleet.Lockers {
		lr := rand.New(rand.NewPCG(t.Seed, uint64(len(l.ID))+uint64(l.ID[len(l.ID)-1])*7919+rng.Uint64()))
		round := at(lr.Float64() / 3)
		var pickups []time.Time
		for range plans[l.ID] {
			pickups = append(pickups, at(0.4+0.55*lr.Float64()))
		}
		goOffline := lr.Float64() < t.Offline
		down := at(0.1 + 0.7*lr.Float64())
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.courierRound(ctx, l, round, badge, pin, plans[l.ID], &deposited, problem)
		}()
		for i, pp := range plans[l.ID] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.pickup(ctx, l, pickups[i], pp, &picked, problem)
			}()
		}
		if goOffline {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sleepUntil(ctx, down)
				if err := l.Stop(); err != nil {
					problem("%s: stop: %v", l.ID, err)
					return
				}
				sleepUntil(ctx, down.Add(t.Day/10))
				if err := l.Start(ctx, t.obs.observe(l.ID)); err != nil {
					problem("%s: restart: %v", l.ID, err)
					return
				}
				offline.Add(1)
			}()
		}
	}
	wg.Wait()
	rep.Deposited, rep.PickedUp, rep.Offline = int(deposited.Load()), int(picked.Load()), int(offline.Load())
	for _, l := range t.Fleet.Lockers {
		for _, c := range l.Config.Compartments {
			rep.PerLocker[l.ID].Pulses += l.Cabinet.Pulses(fmt.Sprintf("g%d", c.Door.Lock))
		}
	}

	// Evening: every station's events reach the fleet side.
	deadline := time.Now().Add(max(t.Day, time.Minute))
	for {
		t.obs.mu.Lock()
		mu.Lock()
		var behind []string
		for id, last := range t.obs.last {
			if seen[id] != last {
				behind = append(behind, fmt.Sprintf("%s at %d of %d", id, seen[id], last))
			}
		}
		mu.Unlock()
		t.obs.mu.Unlock()
		if len(behind) == 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			slices.Sort(behind)
			problem("events missing at the fleet side: %v", behind)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	stopEvents()
	<-evdone
	rep.Events = int(events.Load())
	rep.Stats = t.Client.EventStats()
	if s := rep.Stats; s.Gaps != 0 || s.OutOfOrder != 0 || s.Invalid != 0 || s.Dropped != 0 || s.Unauthenticated != 0 {
		problem("fleet event stream: %+v", s)
	}
	return rep, nil
}

// courierRound logs in at the locker at when and deposits every parcel, one scan
// after the other (the virtual person shuts each door).
func (t *Traffic) courierRound(ctx context.Context, l *Locker, when time.Time, badge, pin string, plans []*parcelPlan, n *atomic.Int64, problem func(string, ...any)) {
	sleepUntil(ctx, when)
	t.retry(ctx, l, func(ctx context.Context) error {
		cl := l.Client()
		defer cl.Close()
		sid, err := cl.Login(ctx, badge, pin)
		if err != nil {
			return err
		}
		defer cl.Logout(ctx, sid)
		for _, pp := range plans {
			if pp.deposited.Load() {
				continue
			}
			if _, err := cl.Scan(ctx, sid, pp.p.Tracking, ""); err != nil {
				// A scan whose answer was lost (the locker stopped under it) may have
				// deposited the parcel: the inventory says.
				if held, herr := t.holds(ctx, cl, pp.p.ID); herr != nil || !held {
					return fmt.Errorf("scan of %s: %w", pp.p.ID, err)
				}
			}
			pp.deposited.Store(true)
			n.Add(1)
			t.count(l.ID, func(c *Counts) { c.Deposited++ })
		}
		return nil
	}, problem)
}

// pickup has the recipient come at when and type the code and phone digits; a
// recipient who finds the parcel not yet deposited, or the locker off, comes back.
func (t *Traffic) pickup(ctx context.Context, l *Locker, when time.Time, pp *parcelPlan, n *atomic.Int64, problem func(string, ...any)) {
	sleepUntil(ctx, when)
	for !pp.deposited.Load() {
		if !sleepUntil(ctx, time.Now().Add(t.Day/50)) {
			return
		}
	}
	tried := false
	t.retry(ctx, l, func(ctx context.Context) error {
		cl := l.Client()
		defer cl.Close()
		res, err := cl.PickupCode(ctx, pp.p.Code, pp.p.Phone)
		if err != nil && tried && errors.Is(err, locker.ErrWrongCode) && t.gone(ctx, cl, pp.p.ID) {
			// An earlier try opened the door but its answer was lost (the locker
			// stopped under it): the recipient took the parcel then.
			err, res.Slots = nil, []locker.Slot{{}}
		}
		tried = true
		if err != nil {
			return err
		}
		if len(res.Slots) != 1 {
			return fmt.Errorf("pickup of %s opened %d doors", pp.p.ID, len(res.Slots))
		}
		n.Add(1)
		t.count(l.ID, func(c *Counts) { c.PickedUp++ })
		return nil
	}, problem)
}

// gone reports whether the locker holds the parcel no more (its inventory).
func (t *Traffic) gone(ctx context.Context, cl *control.Client, parcel string) bool {
	holds, err := t.holds(ctx, cl, parcel)
	return err == nil && !holds
}

// holds reports whether a compartment of the locker holds the parcel.
func (t *Traffic) holds(ctx context.Context, cl *control.Client, parcel string) (bool, error) {
	inv, err := cl.Inventory(ctx)
	if err != nil {
		return false, err
	}
	for _, c := range inv {
		for _, p := range c.Parcels {
			if string(p) == parcel {
				return true, nil
			}
		}
	}
	return false, nil
}

func (t *Traffic) count(id string, f func(*Counts)) {
	if t.counts == nil {
		return
	}
	t.countsMu.Lock()
	f(t.counts[id])
	t.countsMu.Unlock()
}

// RemoteOpen has an operator open a door of the locker remotely (open-compartment
// over MQTT) and waits for the final reply: true when the door was opened, false
// when the locker refused (a door busy, the rate limit). An error is no final reply.
func (t *Traffic) RemoteOpen(ctx context.Context, l *Locker, compartment int) (bool, error) {
	r, err := t.Client.Do(ctx, l.ID, &protocol.OpenCompartmentBody{Compartment: uint16(compartment),
		Reason: protocol.OpenInspection, Operator: "fleetsim-operator"})
	var re *fleet.ReplyError
	switch {
	case errors.As(err, &re):
		return false, nil
	case err != nil:
		return false, err
	case r.Status != protocol.StatusDone:
		return false, nil
	}
	t.count(l.ID, func(c *Counts) { c.Opened++ })
	return true, nil
}

// retry runs f while the locker is up; a locker that is off, or a door still busy, is
// tried again shortly (a person waits), up to a fifth of the day.
func (t *Traffic) retry(ctx context.Context, l *Locker, f func(context.Context) error, problem func(string, ...any)) {
	giveUp := time.Now().Add(t.Day / 5)
	for {
		if l.Running() {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := f(cctx)
			cancel()
			if err == nil {
				return
			}
			if time.Now().After(giveUp) {
				problem("%s: %v", l.ID, err)
				return
			}
			t.Log.Debug("fleetsim: retrying", "locker", l.ID, "err", err)
		}
		if !sleepUntil(ctx, time.Now().Add(500*time.Millisecond)) {
			return
		}
	}
}

// each runs f for every locker, at most Parallel at a time.
func (t *Traffic) each(ctx context.Context, f func(context.Context, *Locker) error) error {
	sem := make(chan struct{}, t.Parallel)
	errs := make([]error, len(t.Fleet.Lockers))
	var wg sync.WaitGroup
	for i, l := range t.Fleet.Lockers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if err := f(cctx, l); err != nil {
				errs[i] = fmt.Errorf("%s: %w", l.ID, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sleepUntil sleeps until when or ctx's end; false at ctx's end.
func sleepUntil(ctx context.Context, when time.Time) bool {
	d := time.Until(when)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
