package cloudlink

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"math/bits"
	"slices"
	"syscall"
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// hardwarePoll is how often driver states are compared for hardware events. Driver
// health lives in memory, so a poll costs nothing worth counting.
const hardwarePoll = 2 * time.Second

// A driver whose state keeps changing (a loose cable, a board browning out) is reported
// at most flapMax times per flapWindow: every change is an audit entry and an outbox
// entry on the device's flash, and the fleet learns nothing more from the 43,200th of a
// day. Its current state is reported once the window lets it through again.
const (
	flapMax    = 6
	flapWindow = 10 * time.Minute
)

// A health report that would say what the last one recorded said is not recorded again
// (issue 17, the flash budget: each record is a commit, tens of KB on the card): it is
// recorded when a driver's state, the parcels waiting or the free space (by more than
// storageStep of the file system) changed, or any other event was committed since the
// last report (its audit head then moved on, and the fleet anchors the new one, ADR
// 0050), and at least every healthQuiet. Liveness is presence's job, not health's.
const (
	healthQuiet = 24 * time.Hour
	storageStep = 100 // a change of free space by more than 1/storageStep of the size
)

// healthReport is what a recorded report said, for the comparison.
type healthReport struct {
	at          time.Time
	seq         uint64 // the audit head right after the report's own entry
	parcels     int
	drivers     map[string]protocol.Health
	free, total uint64
}

// healthReporter records, as station events (so they reach the cloud through the
// outbox, in order, after any outage), a hardware event whenever a driver's state
// changes and a health event every interval, the first one at start.
type healthReporter struct {
	st       *locker.Station
	drivers  func() []Driver
	every    time.Duration
	stateDir string
	outbox   func(fallback int) int
	started  time.Time
	log      *slog.Logger
	flaps    map[string][]time.Time // per driver, when its recent hardware events were recorded
	held     map[string]bool        // drivers whose changes are held back now (logged once)
	clock    func() time.Time       // time.Now when nil (health reports only)
	last     *healthReport          // the last health report recorded, nil before the first
	// summary hands the birth's health summary to the link (ADR 0068); nil: none.
	summary     func(*protocol.PresenceHealth)
	lastSummary *protocol.PresenceHealth // the last one handed over
}

// offerSummary hands the link the summary of outbox and drivers for its birth (ADR
// 0068): always when a health report is built (force), else (the hardware poll) only
// when the alarms changed or the backlog moved to another power-of-two bucket (0, 1,
// 2-3, 4-7, …), so that a draining outbox republishes the birth about log2(n) times,
// not once per event. The link publishes only what differs from its last birth, at
// most once a second, and stores nothing.
func (r *healthReporter) offerSummary(outbox int, drivers map[string]protocol.Health, force bool) {
	if r.summary == nil {
		return
	}
	h := protocol.NewPresenceHealth(outbox, drivers)
	if l := r.lastSummary; !force && l != nil && bits.Len(uint(l.Outbox)) == bits.Len(uint(h.Outbox)) && slices.Equal(l.Alarms, h.Alarms) {
		return
	}
	r.lastSummary = h
	r.summary(h)
}

// pollSummary offers the summary from the hardware poll: the outbox's depth (the last
// one handed over if it cannot be read) and the drivers' states, both in memory or a
// read transaction, nothing written.
func (r *healthReporter) pollSummary() {
	if r.summary == nil {
		return
	}
	fallback := 0
	if r.lastSummary != nil {
		fallback = r.lastSummary.Outbox
	}
	r.offerSummary(r.outbox(fallback), driverStates(r.drivers()), false)
}

func (r *healthReporter) now() time.Time {
	if r.clock != nil {
		return r.clock()
	}
	return time.Now()
}

// news reports whether body, made at now with the audit head at seq and the file
// system's size total, says something the last recorded report did not.
func (r *healthReporter) news(body *protocol.HealthEvent, seq, total uint64, now time.Time) bool {
	l := r.last
	if l == nil || seq != l.seq || now.Sub(l.at) >= healthQuiet || now.Before(l.at) ||
		body.Parcels != l.parcels || !maps.Equal(body.Drivers, l.drivers) || total != l.total {
		return true
	}
	diff := max(body.StorageFree, l.free) - min(body.StorageFree, l.free)
	return diff > total/storageStep
}

// allowChange reports whether a hardware event for driver name may be recorded at now
// (see flapMax), forgetting events older than the window.
func (r *healthReporter) allowChange(name string, now time.Time) bool {
	if r.flaps == nil {
		r.flaps, r.held = map[string][]time.Time{}, map[string]bool{}
	}
	recent := r.flaps[name]
	for len(recent) > 0 && now.Sub(recent[0]) >= flapWindow {
		recent = recent[1:]
	}
	r.flaps[name] = recent
	return len(recent) < flapMax
}

// run reports until ctx ends.
func (r *healthReporter) run(ctx context.Context) {
	poll := time.NewTicker(hardwarePoll)
	defer poll.Stop()
	health := time.NewTicker(r.every)
	defer health.Stop()
	// A driver that is fine at start is news to nobody; one that is not is reported.
	last := map[string]protocol.Health{}
	for _, d := range r.drivers() {
		last[d.Name] = protocol.HealthOK
	}
	r.hardware(last)
	r.health()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			r.hardware(last)
			r.pollSummary()
		case <-health.C:
			r.health()
		}
	}
}

// hardware records an event for every driver whose state differs from last.
func (r *healthReporter) hardware(last map[string]protocol.Health) {
	for _, d := range r.drivers() {
		if d.Starting {
			continue // its first report decides; until then it is no news
		}
		state := d.Health
		if prev, seen := last[d.Name]; seen && prev == state {
			continue
		}
		if !protocol.ValidID(d.Name) {
			continue
		}
		now := time.Now()
		if !r.allowChange(d.Name, now) {
			if !r.held[d.Name] { // logged once per held spell
				r.log.Warn("driver state keeps changing; hardware events held", "driver", d.Name, "window", flapWindow)
				r.held[d.Name] = true
			}
			continue
		}
		delete(r.held, d.Name)
		body := protocol.HardwareEvent{Component: d.Name, State: state, Code: d.Code}
		if r.record(locker.EvHardware, d.Name, &body) {
			last[d.Name] = state
			r.flaps[d.Name] = append(r.flaps[d.Name], now)
		}
	}
}

// health records a health report, unless it would say nothing new (see healthQuiet).
func (r *healthReporter) health() {
	st, err := r.st.Status()
	if err != nil {
		r.log.Warn("health report skipped", "err", err)
		return
	}
	free, total := diskSpace(r.stateDir)
	body := protocol.HealthEvent{
		UptimeS: int64(time.Since(r.started) / time.Second), StorageFree: free,
		Outbox: r.outbox(st.Outbox), Parcels: waiting(st), Drivers: driverStates(r.drivers()),
	}
	// The chain's head before this report's own entry: the fleet anchors it (ADR 0050).
	seq, mac := r.st.AuditHead()
	body.Audit = &protocol.AuditHead{Seq: seq, Head: protocol.Digest(mac)}
	r.offerSummary(body.Outbox, body.Drivers, true) // recorded or not: the birth costs no flash
	now := r.now()
	if !r.news(&body, seq, total, now) {
		return
	}
	if r.record(locker.EvHealth, locker.ActorSystem, &body) {
		// Its own entry is seq+1, unless another event came between: then the next
		// report finds the head elsewhere and is recorded, which errs on the safe side.
		r.last = &healthReport{at: now, seq: seq + 1, parcels: body.Parcels, drivers: body.Drivers, free: free, total: total}
	}
}

// record commits one report; it reports whether it was stored.
func (r *healthReporter) record(typ locker.EventType, actor string, body protocol.EventBody) bool {
	if err := body.Validate(); err != nil {
		r.log.Error("report does not validate", "type", string(typ), "err", err)
		return false
	}
	raw, err := json.Marshal(body)
	if err == nil {
		err = r.st.Record(typ, actor, raw)
	}
	if err != nil {
		r.log.Warn("report not recorded", "type", string(typ), "err", err)
		return false
	}
	return true
}

// diskSpace is the space left to an unprivileged writer on the state directory's file
// system, and its size (both 0 if unknown).
func diskSpace(dir string) (free, total uint64) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, 0
	}
	return fs.Bavail * uint64(fs.Bsize), fs.Blocks * uint64(fs.Bsize)
}
