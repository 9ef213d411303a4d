package cloudlink

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestStartingDriverIsNoNews: a driver loaded but not yet reporting (a serial port
// opening) is no hardware event: the reporter records nothing for it (it has no
// station here: a record would panic) (found by a review: a "failed" event at some
// starts). firmware's test of the same name checks how such a driver reads.
func TestStartingDriverIsNoNews(t *testing.T) {
	starting := Driver{Name: "front", Health: protocol.HealthUnknown, Code: "starting", Starting: true}
	r := &healthReporter{drivers: func() []Driver { return []Driver{starting} }, log: slog.New(slog.DiscardHandler)}
	last := map[string]protocol.Health{"front": protocol.HealthOK}
	r.hardware(last)
	if last["front"] != protocol.HealthOK {
		t.Fatalf("the reporter took a starting driver's state: %v", last)
	}
}

// TestFlappingDriverIsReportedAtMostFlapMaxTimes: a driver whose state keeps changing
// gets at most flapMax hardware events per window; once the window lets it through
// again, its current state is reported.
func TestFlappingDriverIsReportedAtMostFlapMaxTimes(t *testing.T) {
	r := &healthReporter{log: slog.New(slog.DiscardHandler)}
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	allowed := 0
	for i := range 100 { // a change every poll for 200 s
		now := start.Add(time.Duration(i) * hardwarePoll)
		if r.allowChange("bus0", now) {
			allowed++
			r.flaps["bus0"] = append(r.flaps["bus0"], now)
		}
	}
	if allowed != flapMax {
		t.Fatalf("%d changes recorded in %v, want %d", allowed, 100*hardwarePoll, flapMax)
	}
	if !r.allowChange("bus0", start.Add(flapWindow+time.Second)) {
		t.Fatal("the window passed, and the current state is still held back")
	}
	if !r.allowChange("front", start) {
		t.Fatal("another driver is held back by bus0's flapping")
	}
}

// TestHealthThatChangesNothingIsNotRecorded (issue 17, the flash budget): a health
// report that would say what the last one said is not committed again; one is when a
// driver's state or the parcels waiting changed, when another event was committed
// since (its audit head moved on), when free space moved by more than 1/storageStep of
// the file system, and at least every healthQuiet.
func TestHealthThatChangesNothingIsNotRecorded(t *testing.T) {
	f := newStation(t)
	scanner := protocol.HealthOK
	drivers := func() []Driver {
		return []Driver{{Name: "cu16-1", Health: protocol.HealthOK}, {Name: "scanner", Health: scanner}}
	}
	r := &healthReporter{st: f.st, drivers: drivers, every: 15 * time.Minute, stateDir: f.dir,
		outbox: func(n int) int { return n }, started: time.Now(), log: slog.New(slog.DiscardHandler), clock: f.clock.Now}
	step := func(what string, d time.Duration, want bool) {
		t.Helper()
		f.clock.advance(d)
		before := f.commits()
		r.health()
		if got := f.commits() > before; got != want {
			t.Fatalf("%s: recorded %v, want %v", what, got, want)
		}
	}
	step("first report", 0, true)
	step("nothing changed", 15*time.Minute, false)
	step("nothing changed, again", 15*time.Minute, false)
	scanner = protocol.HealthFailed
	step("a driver failed", 15*time.Minute, true)
	step("nothing changed since", 15*time.Minute, false)
	if res, err := f.st.Announce(context.Background(), []locker.Announcement{f.announcement("p-1", "100000000001")}); err != nil || res[0] != nil {
		t.Fatal(err, res)
	}
	step("a parcel announced", 15*time.Minute, true)
	step("nothing changed since", 15*time.Minute, false)
	step("healthQuiet passed", healthQuiet, true)
	step("nothing changed since", 15*time.Minute, false)

	// Free space, judged against the file system's size.
	const total = 32 << 30
	body := protocol.HealthEvent{Parcels: 1, StorageFree: 10 << 30}
	r.last = &healthReport{at: f.clock.Now(), seq: 9, parcels: 1, free: 10 << 30, total: total}
	for _, c := range []struct {
		free uint64
		want bool
	}{{10<<30 + total/storageStep, false}, {10<<30 - total/storageStep, false}, {10<<30 + total/storageStep + 1, true}, {10<<30 - total/storageStep - 1, true}} {
		body.StorageFree = c.free
		if got := r.news(&body, 9, total, f.clock.Now()); got != c.want {
			t.Errorf("free %d against %d: news %v, want %v", c.free, uint64(10<<30), got, c.want)
		}
	}
}

// TestAcksStoredInBatches (issue 17, the flash budget): the broker's acknowledgements
// are stored once ackBatch of them wait, not one commit per event; after a crash the
// events whose acknowledgement was only in memory are sent again (at least once), and
// a clean stop stores them.
func TestAcksStoredInBatches(t *testing.T) {
	f := newStation(t)
	log := slog.New(slog.DiscardHandler)
	o := newWireOutbox(f.st, log)
	const n = ackBatch + 6
	before := f.commits()
	var after uint64
	for i := range n {
		body := fmt.Appendf(nil, `{"component":"cu16-1","state":"%s"}`, []string{"ok", "failed"}[i%2])
		if err := f.st.Record(locker.EvHardware, "cu16-1", body); err != nil {
			t.Fatal(err)
		}
		evs, err := o.Pending(after, 10)
		if err != nil || len(evs) != 1 {
			t.Fatalf("event %d: %d pending, %v", i, len(evs), err)
		}
		after = evs[0].Seq
		if err := o.Ack(after); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.commits() - before; got != n+1 {
		t.Fatalf("%d commits for %d events and their acknowledgements, want %d (one store of %d acknowledgements)", got, n, n+1, ackBatch)
	}
	if got := o.pending(-1); got != 0 {
		t.Fatalf("%d events reported pending, want 0: acknowledged in memory counts", got)
	}
	f.restart() // a crash: the last acknowledgements were only in memory
	o = newWireOutbox(f.st, log)
	evs, err := o.Pending(0, 100)
	if err != nil || len(evs) != n-ackBatch {
		t.Fatalf("after a crash %d events are sent again (%v), want the %d not stored", len(evs), err, n-ackBatch)
	}
	if err := o.Ack(evs[len(evs)-1].Seq); err != nil {
		t.Fatal(err)
	}
	if err := o.flush(); err != nil { // a clean stop
		t.Fatal(err)
	}
	f.restart()
	if evs, err := newWireOutbox(f.st, log).Pending(0, 100); err != nil || len(evs) != 0 {
		t.Fatalf("after a clean stop %d events are sent again (%v)", len(evs), err)
	}
}

// TestPresenceSummaryOffered (ADR 0068): every health report built hands the link its
// summary, recorded or not; the hardware poll hands one only when the alarms change or
// the outbox backlog moves to another power-of-two bucket, so that draining 1,000
// events hands over about ten, not a thousand.
func TestPresenceSummaryOffered(t *testing.T) {
	var got []*protocol.PresenceHealth
	depth := 0
	scanner := protocol.HealthOK
	r := &healthReporter{
		drivers: func() []Driver {
			return []Driver{{Name: "cu16-1", Health: protocol.HealthOK}, {Name: "scanner", Health: scanner}}
		},
		outbox:  func(int) int { return depth },
		log:     slog.New(slog.DiscardHandler),
		summary: func(h *protocol.PresenceHealth) { got = append(got, h) },
	}
	r.pollSummary()
	if len(got) != 1 || got[0].Outbox != 0 || got[0].Alarms != nil {
		t.Fatalf("first poll: %+v", got)
	}
	r.pollSummary()
	if len(got) != 1 {
		t.Fatalf("nothing changed, and the poll handed over %+v", got[1:])
	}
	scanner = protocol.HealthFailed
	r.pollSummary()
	if len(got) != 2 || !slices.Equal(got[1].Alarms, []string{"scanner=failed"}) {
		t.Fatalf("a driver failed: %+v", got)
	}
	for depth = 1; depth <= 1000; depth++ {
		r.pollSummary()
	}
	grew := len(got) - 2
	for depth = 1000; depth >= 0; depth-- {
		r.pollSummary()
	}
	drained := len(got) - 2 - grew
	// 1, 2, 4, …, 512: ten buckets up; 511, 255, …, 1, 0 on the way down.
	if grew != 10 || drained != 10 || got[len(got)-1].Outbox != 0 {
		t.Fatalf("outbox 1..1000 handed %d summaries, 1000..0 handed %d (last %+v); want 10 and 10", grew, drained, got[len(got)-1])
	}

	// A health report hands one over even when it says nothing new.
	f := newStation(t)
	r.st, r.stateDir, r.every, r.started, r.clock = f.st, f.dir, 15*time.Minute, time.Now(), f.clock.Now
	r.outbox = func(n int) int { return n }
	n := len(got)
	r.health()
	r.health()
	if len(got) != n+2 || !slices.Equal(got[n+1].Alarms, []string{"scanner=failed"}) {
		t.Fatalf("two health reports handed %d summaries: %+v", len(got)-n, got[n:])
	}
}
