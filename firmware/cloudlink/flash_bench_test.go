package cloudlink

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// BenchmarkFlashWrites measures what lockerd writes to flash (issue 17, the flash
// budget: at most 1 MB per idle day with health at its default interval, and a figure
// per deposit and per pickup). A real station on a bbolt store, 110 doors and 100
// parcels announced, with the cloud link's health reporter and wire outbox; the link
// is up: each round reads the outbox, acknowledges what it read, and the next round
// stores the acknowledgement, as mqtt/link does. Bytes are the kernel's accounting for
// this process (/proc/self/io write_bytes: page-cache pages dirtied, which is what
// reaches the card, the ext4 journal aside); wchar (bytes passed to write calls) is
// the cross-check. journald's own writes are another process's (docs/field.md).
//
//   - idle day: 24 hours on the station's clock with no one at the locker, a timer
//     tick every 10 s and a health event due every DefaultHealthInterval (15 minutes);
//   - deposit: a courier scans an announced parcel, its door opens and closes;
//   - pickup: a recipient enters the code, the door opens and closes.
func BenchmarkFlashWrites(b *testing.B) {
	const every = 15 * time.Minute // config.DefaultHealthInterval (not imported: a cycle)
	var idle, idleW, dep, depW, pick, pickW, commitsIdle, commitsDep, commitsPick float64
	for b.Loop() {
		f, r, round := flashStation(b, every)
		// Settle: the first health report and the start's events are no idle cost.
		r.health()
		round()
		round()

		c0, io0 := f.commits(), testenv.ReadProcIO()
		for range 24 * time.Hour / every {
			for range every / (10 * time.Second) {
				f.clock.advance(10 * time.Second)
				if err := f.st.Tick(); err != nil {
					b.Fatal(err)
				}
			}
			r.health()
			round()
			round()
		}
		io1 := testenv.ReadProcIO()
		idle, idleW = float64(io1.WriteBytes-io0.WriteBytes), float64(io1.WChar-io0.WChar)
		commitsIdle = float64(f.commits() - c0)

		const n = 20
		sid := flashCourier(b, f)
		c0, io0 = f.commits(), testenv.ReadProcIO()
		var slots []locker.CompartmentID
		for i := range n {
			f.clock.advance(2 * time.Second) // out of the repeat-scan window
			slot, err := f.st.Scan(context.Background(), sid, flashTracking(i), locker.SizeUnknown)
			if err != nil {
				b.Fatalf("deposit %d: %v", i, err)
			}
			f.st.DoorChanged(slot.Compartment, true)
			f.clock.advance(2 * time.Second)
			f.st.DoorChanged(slot.Compartment, false)
			round()
			round()
			slots = append(slots, slot.Compartment)
		}
		io1 = testenv.ReadProcIO()
		dep, depW = float64(io1.WriteBytes-io0.WriteBytes)/n, float64(io1.WChar-io0.WChar)/n
		commitsDep = float64(f.commits()-c0) / n
		f.st.Logout(sid)

		c0, io0 = f.commits(), testenv.ReadProcIO()
		for i := range n {
			f.clock.advance(2 * time.Second)
			res, err := f.st.EnterCode(context.Background(), flashCode(i), flashPhone)
			if err != nil || len(res.Slots) != 1 {
				b.Fatalf("pickup %d: %+v %v", i, res, err)
			}
			f.st.DoorChanged(slots[i], true)
			f.clock.advance(2 * time.Second)
			f.st.DoorChanged(slots[i], false)
			round()
			round()
		}
		io1 = testenv.ReadProcIO()
		pick, pickW = float64(io1.WriteBytes-io0.WriteBytes)/n, float64(io1.WChar-io0.WChar)/n
		commitsPick = float64(f.commits()-c0) / n
	}
	b.ReportMetric(idle/1024, "KB/idle-day")
	b.ReportMetric(idle/24/1024, "KB/idle-hour")
	b.ReportMetric(idleW/1024, "KB-wchar/idle-day")
	b.ReportMetric(commitsIdle, "commits/idle-day")
	b.ReportMetric(commitsDep, "commits/deposit")
	b.ReportMetric(commitsPick, "commits/pickup")
	b.ReportMetric(dep/1024, "KB/deposit")
	b.ReportMetric(depW/1024, "KB-wchar/deposit")
	b.ReportMetric(pick/1024, "KB/pickup")
	b.ReportMetric(pickW/1024, "KB-wchar/pickup")
}

const flashPhone = "4321"

func flashTracking(i int) string { return fmt.Sprintf("%012d", 100_000_000_000+i) }
func flashCode(i int) string     { return fmt.Sprintf("%08d", 20_000_000+i*7919) }

// flashStation is a station of 110 doors with 100 parcels announced, its health
// reporter (health due every every, two drivers that stay ok) and one round of the
// cloud link: read the outbox (storing the acknowledgements of the round before) and
// acknowledge everything read.
func flashStation(b *testing.B, every time.Duration) (*stationFixture, *healthReporter, func()) {
	b.Helper()
	comps := make([]locker.CompartmentSpec, 110)
	for i := range comps {
		comps[i] = locker.CompartmentSpec{ID: locker.CompartmentID(i + 1), Size: locker.SizeM, Kind: locker.KindDoor}
	}
	f := newStationWith(b, comps)
	var batch []locker.Announcement
	for i := range 100 {
		a := f.announcement(locker.ParcelID(fmt.Sprintf("p-%d", i)), flashTracking(i))
		a.Code = f.cloud.CodeVerifier2(flashCode(i), flashPhone)
		batch = append(batch, a)
	}
	if res, err := f.st.Announce(context.Background(), batch); err != nil || res[0] != nil {
		b.Fatalf("announce: %v %v", err, res)
	}
	log := slog.New(slog.DiscardHandler)
	wo := newWireOutbox(f.st, log)
	drivers := func() []Driver {
		return []Driver{{Name: "cu16-1", Health: protocol.HealthOK}, {Name: "scanner", Health: protocol.HealthOK}}
	}
	r := &healthReporter{st: f.st, drivers: drivers, every: every, stateDir: f.dir, outbox: wo.pending,
		started: time.Now(), log: log}
	setReporterClock(r, f.clock.Now)
	var acked uint64
	round := func() {
		evs, err := wo.Pending(acked, 100)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range evs {
			if err := wo.Ack(e.Seq); err != nil {
				b.Fatal(err)
			}
			acked = e.Seq
		}
	}
	return f, r, round
}

// flashCourier adds a courier with deposit rights and logs it in.
func flashCourier(b *testing.B, f *stationFixture) string {
	b.Helper()
	const badge, pin = "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468"
	if err := f.st.UpsertCourier(context.Background(), locker.Courier{ID: "c-1", Badge: f.cloud.Badge(badge),
		Verifier: f.cloud.Courier(badge, pin), Rights: locker.Rights{Deposit: true}}); err != nil {
		b.Fatal(err)
	}
	sid, err := f.st.Login(context.Background(), badge, pin)
	if err != nil {
		b.Fatal(err)
	}
	return sid
}
