package fleetsim_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/drivers/gpiodoor/gpiodoortest"
	"github.com/lockerd/lockerd/firmware/cloudlink"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/mqtttest"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
	"github.com/lockerd/lockerd/sim/fleetsim"
)

// benchEnv reads a positive integer from the environment, def when unset.
func benchEnv(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

const (
	benchCloudPassword = "cloud-pass"
	benchBadge         = "FLEETBENCH-COURIER-BADGE-0001"
	benchPIN           = "24681357"
)

// benchFleet is BenchmarkFleet's fleet: n real lockerd stations (sim/fleetsim) on one
// Mosquitto, the fleet side (mqtt/fleet) consuming their events, and lockerctl built
// and configured as that fleet.
type benchFleet struct {
	n         int
	broker    *mqtttest.Broker
	cloud     *sim.Cloud
	client    *fleet.Client // the fleet side, while connected
	clientCfg fleet.Config
	consumed  chan struct{} // closed when the current client's consumer ends
	fleet     *fleetsim.Fleet
	lockerctl string // the built binary
	ctlConfig string // its configuration: this fleet's keys, every locker pinned
	baseRSS   int64  // the process's RSS before the lockers, bytes

	committed atomic.Int64 // events the stations committed that go on the wire
	jammed    atomic.Int64 // of those, doors reported jammed
	received  atomic.Int64 // events the fleet side took (NextEvent)
	mu        sync.Mutex
	recording bool
	times     []time.Time // arrival of each event at the fleet side while recording
}

// BenchmarkFleet is issue 16's fleet benchmark (docs/benchmarks.md, "Fleets"): 1,000
// lockers of sim/fleetsim — each a real lockerd with its own store on a tmpfs, its own
// MQTT session through mqtt/link, on in-memory GPIO doors — on one Mosquitto on
// loopback, and the fleet side (mqtt/fleet) in the same process.
//
//	idle       all lockers connected, no traffic: the process's CPU (getrusage) and the
//	           broker's (/proc/PID/stat) over LOCKERD_FLEET_BENCH_IDLE seconds (10),
//	           and RSS, per locker
//	events     every locker deposits its doors' worth of parcels and they are picked
//	           up, the doors shut each time (four events each: unlocked, door opened,
//	           door closed, deposited or picked up); the fleet side's rate beside a
//	           mosquitto_sub's on the same event topics, each timed from its first
//	           event to its last
//	backlog    the same while the fleet side and a mosquitto_sub are away, their
//	           persistent sessions queueing the events; each then takes the backlog
//	           (mosquitto_sub first), timed from its first event to its last
//	fleetview  `lockerctl fleet` beside `mosquitto_sub -C N` of the retained presences
//	announce   `lockerctl announce FILE` of LOCKERD_FLEET_BENCH_PARCELS (100) parcels
//	           per locker, beside a paho client publishing as many messages of the
//	           same mean size with QoS 1 to the same broker
//
// LOCKERD_FLEET_BENCH_LOCKERS (default 1000) sets the fleet's size: 100 is a run
// for CI. The broker's open-file limit is raised through mqtttest.Options.OpenFiles.
func BenchmarkFleet(b *testing.B) {
	n := benchEnv(b, "LOCKERD_FLEET_BENCH_LOCKERS", 1000)
	bf := startBenchFleet(b, n)
	b.Run("idle", bf.benchIdle)
	b.Run("events", bf.benchEvents)
	b.Run("backlog", bf.benchBacklog)
	b.Run("fleetview", bf.benchFleetView)
	b.Run("announce", bf.benchAnnounce)
}

func startBenchFleet(b *testing.B, n int) *benchFleet {
	quiet := slog.New(slog.DiscardHandler)
	users := []mqtttest.User{{Name: sim.CloudUser, Password: benchCloudPassword, Cloud: true}}
	for i := range n {
		id := fmt.Sprintf("L-%04d", i+1)
		users = append(users, mqtttest.User{Name: id, Password: "pw-" + id})
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	// A descriptor per connection, and room for the broker's own files.
	files := 2*n + 1024
	if uint64(files) > lim.Max {
		b.Fatalf("the hard open-file limit (%d) is below the %d the broker needs for %d lockers: raise it (ulimit -Hn, LimitNOFILE=)", lim.Max, files, n)
	}
	bf := &benchFleet{n: n}
	bf.broker = mqtttest.Start(b, mqtttest.Options{Prefix: config.DefaultTopicPrefix, Users: users, OpenFiles: files})
	b.Logf("mosquitto pid %d, open-file limit %d (sh -c 'ulimit -n %d; exec mosquitto')", bf.broker.PID(), files, files)
	var err error
	if bf.cloud, err = sim.NewCloud(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	bf.clientCfg = fleet.Config{Broker: bf.broker.URL(), ClientID: "fleet-bench",
		Username: sim.CloudUser, Password: benchCloudPassword, Persistent: true, Logger: quiet,
		Timeout: 30 * time.Second, ResendAfter: 30 * time.Second, EventKey: eventKeys(bf.cloud)}
	bf.connect(b)
	b.Cleanup(bf.disconnect)
	bf.baseRSS = rssOf("self")

	dir := benchDir(b)
	// People hold a door open for a second (the default's 150 ms is shorter than the
	// scheduling delays of a thousand stations on two cores: a door opened and shut
	// within one is never seen open, and the station reports it jammed).
	bf.fleet, err = fleetsim.New(fleetsim.Options{Lockers: n, Dir: dir, Cloud: bf.cloud,
		Person: gpiodoortest.OpenThenClose(50*time.Millisecond, time.Second),
		Account: func(id, dir string) (config.MQTT, error) {
			pw := filepath.Join(dir, "mqtt-password")
			if err := os.WriteFile(pw, []byte("pw-"+id+"\n"), 0o600); err != nil {
				return config.MQTT{}, err
			}
			return config.MQTT{Broker: bf.broker.URL(), PasswordFile: pw}, nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bf.fleet.Close() })
	t0 := time.Now()
	pins := map[string]string{}
	var pinsMu sync.Mutex
	observe := func(ev locker.Event) {
		if cloudlink.OnTheWire(ev) {
			bf.committed.Add(1)
			if ev.Type == locker.EvJammed {
				bf.jammed.Add(1)
			}
		}
	}
	if err := parallel(ctx, bf.fleet.Lockers, 32, func(ctx context.Context, l *fleetsim.Locker) error {
		// Enrolment as at installation: the device key read locally, registered with
		// the cloud before the locker first connects.
		pub, err := l.Identity()
		if err != nil {
			return err
		}
		if err := bf.cloud.Enrol(l.ID, pub); err != nil {
			return err
		}
		pinsMu.Lock()
		pins[l.ID] = pub
		pinsMu.Unlock()
		if err := l.Start(ctx, observe); err != nil {
			return err
		}
		online := func(p protocol.Presence) bool { return p.State == protocol.Online }
		if _, err := bf.client.AwaitPresence(ctx, l.ID, online); err != nil {
			return err
		}
		c, err := bf.cloud.WireCourier(l.ID, "courier-1", benchBadge, benchPIN, protocol.RightDeposit, protocol.RightRetrieve)
		if err != nil {
			return err
		}
		_, err = bf.client.Do(ctx, l.ID, c)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d lockers online with a courier after %s", n, time.Since(t0).Round(time.Millisecond))

	ctlDir := b.TempDir()
	if bf.ctlConfig, err = sim.WriteLockerctlConfig(ctlDir, bf.cloud, bf.broker.URL(), benchCloudPassword, pins); err != nil {
		b.Fatal(err)
	}
	bf.lockerctl = filepath.Join(ctlDir, "lockerctl")
	gobin, err := exec.LookPath("go")
	if err != nil {
		b.Fatalf("building lockerctl: %v", err)
	}
	if out, err := exec.Command(gobin, "build", "-o", bf.lockerctl, "github.com/lockerd/lockerd/mqtt/fleet/cmd/lockerctl").CombinedOutput(); err != nil {
		b.Fatalf("building lockerctl: %v\n%s", err, out)
	}
	return bf
}

// benchDir is where the lockers' stores go: a tmpfs (/dev/shm) where there is one, as
// locker-fleet does — the benchmark measures the fleet side and the broker, not flash.
func benchDir(b *testing.B) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "fleet-bench-")
		if err == nil {
			b.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return b.TempDir()
}

// connect connects the fleet side (its persistent session: what came while it was
// away is delivered now) and starts its event loop.
func (bf *benchFleet) connect(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := bf.cloud.Connect(ctx, bf.clientCfg)
	if err != nil {
		b.Fatal(err)
	}
	bf.client, bf.consumed = c, make(chan struct{})
	go bf.consume(c, bf.consumed) // ends when the client is closed
}

// disconnect closes the fleet side's connection; its session stays on the broker.
func (bf *benchFleet) disconnect() {
	if bf.client == nil {
		return
	}
	bf.client.Close()
	<-bf.consumed
	bf.client = nil
}

// consume is the fleet side's event loop: every event counted, its arrival recorded
// while an events run records.
func (bf *benchFleet) consume(c *fleet.Client, done chan struct{}) {
	defer close(done)
	for {
		if _, err := c.NextEvent(context.Background()); err != nil {
			return
		}
		now := time.Now()
		bf.received.Add(1)
		bf.mu.Lock()
		if bf.recording {
			bf.times = append(bf.times, now)
		}
		bf.mu.Unlock()
	}
}

// parallel runs f for every locker, at most width at a time, and joins the errors.
func parallel(ctx context.Context, ls []*fleetsim.Locker, width int, f func(context.Context, *fleetsim.Locker) error) error {
	sem := make(chan struct{}, width)
	errs := make([]error, len(ls))
	var wg sync.WaitGroup
	for i, l := range ls {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(ctx, l); err != nil {
				errs[i] = fmt.Errorf("%s: %w", l.ID, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// benchIdle: the fleet connected and quiet for a fixed window. CPU is the whole test
// process (every station, their links and the fleet side) from getrusage, and the
// broker's from /proc; RSS is the process's growth since before the lockers started,
// and the broker's whole RSS, each divided by the lockers.
func (bf *benchFleet) benchIdle(b *testing.B) {
	window := time.Duration(benchEnv(b, "LOCKERD_FLEET_BENCH_IDLE", 10)) * time.Second
	time.Sleep(2 * time.Second) // the last enrolment's traffic settles
	pid := bf.broker.PID()
	var cpu, brokerCPU, elapsed time.Duration
	for b.Loop() {
		c0, bc0, t0 := selfCPU(b), procCPU(b, pid), time.Now()
		time.Sleep(window)
		cpu += selfCPU(b) - c0
		brokerCPU += procCPU(b, pid) - bc0
		elapsed += time.Since(t0)
	}
	n := float64(bf.n)
	b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds()/n, "%cpu/locker")
	b.ReportMetric(100*brokerCPU.Seconds()/elapsed.Seconds()/n, "broker-%cpu/locker")
	b.ReportMetric(float64(rssOf("self")-bf.baseRSS)/1024/n, "KB-rss/locker")
	b.ReportMetric(float64(rssOf(strconv.Itoa(pid)))/1024/n, "broker-KB-rss/locker")
	b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "%cpu-all")
}

// selfCPU is the test process's user and system time (getrusage).
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's user and system time from /proc/PID/stat (fields 14 and 15,
// in clock ticks of 1/100 s, the USER_HZ of every Linux port).
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // after the command name
	if len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// rssOf is VmRSS of /proc/<pid>/status in bytes (pid "self": this process), 0 if unknown.
func rssOf(pid string) int64 {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// benchEvents: every locker's doors' worth of parcels announced (not timed), then
// deposited by the courier in one round and picked up one after the other through the
// locker's control socket, all lockers at once. The fleet side and a mosquitto_sub on
// the same event topics each time their share of the same events from first to last:
// both take them as the lockers send them.
func (bf *benchFleet) benchEvents(b *testing.B) {
	var fleetRate, subRate, offered float64
	var events, jams int64
	runs, failed := 0, 0
	for b.Loop() {
		b.StopTimer()
		plans := bf.announceRound(b)
		sub := bf.startSub(b, "")
		time.Sleep(time.Second) // health and late events settle before the count starts
		c0, r0, j0 := bf.committed.Load(), bf.received.Load(), bf.jammed.Load()
		sub.reset()
		bf.record(true)
		b.StartTimer()

		t0 := time.Now()
		last, fails := bf.playRound(b, plans)
		want := bf.committed.Load() - c0
		deadline := time.Now().Add(5 * time.Minute)
		for bf.received.Load()-r0 < want || sub.count() < want {
			if time.Now().After(deadline) {
				b.Fatalf("after 5 minutes the fleet side has %d of %d events, mosquitto_sub %d", bf.received.Load()-r0, want, sub.count())
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.StopTimer()
		sub.stop()
		times := bf.record(false)
		fleetRate += rate(times)
		subRate += rate(sub.times)
		offered += float64(want) / last.Sub(t0).Seconds()
		events += want
		jams += bf.jammed.Load() - j0
		failed += fails
		runs++
		b.StartTimer()
	}
	r := float64(runs)
	b.ReportMetric(float64(events)/r, "events/op")
	b.ReportMetric(offered/r, "committed-events/s")
	b.ReportMetric(fleetRate/r, "fleet-events/s")
	b.ReportMetric(subRate/r, "mosquitto_sub-events/s")
	b.ReportMetric(fleetRate/subRate, "fleet/sub")
	b.ReportMetric(float64(failed)/r, "failed-ops")
	b.ReportMetric(float64(jams)/r, "jams")
}

// benchBacklog: the same round while the fleet side and a mosquitto_sub are both
// away, their persistent sessions queueing the events on the broker; then each comes
// back in turn (mosquitto_sub first) and takes the whole backlog as fast as the broker
// hands it over, timed from its first event to its last. This is the fleet side's own
// capacity, where benchEvents is bounded by the lockers' pace.
func (bf *benchFleet) benchBacklog(b *testing.B) {
	const subID = "fleet-bench-backlog"
	pid := bf.broker.PID()
	var fleetRate, subRate float64
	var fleetCPU, fleetBrokerCPU, subBrokerCPU, fleetTook, subTook time.Duration
	var events int64
	runs, failed := 0, 0
	for b.Loop() {
		b.StopTimer()
		plans := bf.announceRound(b)
		bf.startSub(b, subID).stop() // the session and its subscription stay
		bf.disconnect()
		c0 := bf.committed.Load()
		_, fails := bf.playRound(b, plans)
		want := waitSettled(&bf.committed) - c0
		// The stations publish as they commit (their outboxes empty within
		// milliseconds on loopback); a second more for the last ones.
		time.Sleep(time.Second)

		cpu0, bc0, t0 := time.Duration(0), procCPU(b, pid), time.Now()
		sub := bf.startSub(b, subID)
		deadline := time.Now().Add(5 * time.Minute)
		for sub.count() < want {
			if time.Now().After(deadline) {
				b.Fatalf("after 5 minutes mosquitto_sub has %d of %d events", sub.count(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		sub.stop()
		subBrokerCPU += procCPU(b, pid) - bc0
		subTook += time.Since(t0)
		r0 := bf.received.Load()
		bf.record(true)
		b.StartTimer()
		stopProfile := drainProfile(b, runs)
		cpu0, bc0, t0 = selfCPU(b), procCPU(b, pid), time.Now()
		bf.connect(b)
		for bf.received.Load()-r0 < want {
			if time.Now().After(deadline) {
				b.Fatalf("after 5 minutes the fleet side has %d of %d events", bf.received.Load()-r0, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		stopProfile()
		fleetCPU += selfCPU(b) - cpu0
		fleetBrokerCPU += procCPU(b, pid) - bc0
		fleetTook += time.Since(t0)
		b.StopTimer()
		fleetRate += rate(bf.record(false))
		subRate += rate(sub.times)
		events += want
		failed += fails
		runs++
		b.StartTimer()
	}
	r := float64(runs)
	b.ReportMetric(float64(events)/r, "events/op")
	b.ReportMetric(fleetRate/r, "fleet-events/s")
	b.ReportMetric(subRate/r, "mosquitto_sub-events/s")
	b.ReportMetric(fleetRate/subRate, "fleet/sub")
	b.ReportMetric(float64(failed)/r, "failed-ops")
	// Where the time goes while each takes the backlog: the test process (every
	// station, idle now, and the fleet side) and the broker, in % of one core.
	b.ReportMetric(100*fleetCPU.Seconds()/fleetTook.Seconds(), "fleet-drain-process-%cpu")
	b.ReportMetric(100*fleetBrokerCPU.Seconds()/fleetTook.Seconds(), "fleet-drain-broker-%cpu")
	b.ReportMetric(100*subBrokerCPU.Seconds()/subTook.Seconds(), "sub-drain-broker-%cpu")
}

// drainProfile starts a CPU profile of the fleet side taking the backlog when
// LOCKERD_FLEET_BENCH_DRAIN_PROFILE names a file (run n > 0 adds ".n" to it), for
// where the time goes in that phase alone (go test's -cpuprofile covers the whole
// run, enrolment and rounds included; the two cannot be used together). It returns
// the function that stops it.
func drainProfile(b *testing.B, n int) func() {
	name := os.Getenv("LOCKERD_FLEET_BENCH_DRAIN_PROFILE")
	if name == "" {
		return func() {}
	}
	if n > 0 {
		name += "." + strconv.Itoa(n)
	}
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// waitSettled waits until n has not moved for two seconds and returns it.
func waitSettled(n *atomic.Int64) int64 {
	last := n.Load()
	for {
		time.Sleep(2 * time.Second)
		now := n.Load()
		if now == last {
			return now
		}
		last = now
	}
}

// record starts or stops recording the fleet side's event arrivals; stopping returns
// them.
func (bf *benchFleet) record(on bool) []time.Time {
	bf.mu.Lock()
	defer bf.mu.Unlock()
	times := bf.times
	bf.recording = on
	if on {
		bf.times = nil
	}
	return times
}

// announceRound announces each locker's doors' worth of parcels over the fleet side.
func (bf *benchFleet) announceRound(b *testing.B) map[string][]sim.Parcel {
	plans := map[string][]sim.Parcel{}
	for _, l := range bf.fleet.Lockers {
		for range len(l.Config.Compartments) {
			plans[l.ID] = append(plans[l.ID], bf.cloud.NewParcel("S"))
		}
	}
	if err := parallel(b.Context(), bf.fleet.Lockers, 32, func(ctx context.Context, l *fleetsim.Locker) error {
		return bf.cloud.AnnounceOver(ctx, bf.client, l.ID, plans[l.ID])
	}); err != nil {
		b.Fatal(err)
	}
	return plans
}

// playRound has every locker, all at once, deposit and hand out its parcels; it
// returns when the last locker finished and how many operations failed. The events
// of those that went through are counted on both sides all the same; the failures
// are logged and reported, never hidden.
func (bf *benchFleet) playRound(b *testing.B, plans map[string][]sim.Parcel) (time.Time, int) {
	var mu sync.Mutex
	var fails []string
	var last time.Time
	_ = parallel(b.Context(), bf.fleet.Lockers, len(bf.fleet.Lockers), func(ctx context.Context, l *fleetsim.Locker) error {
		errs := depositAndPickUp(ctx, l, plans[l.ID])
		mu.Lock()
		defer mu.Unlock()
		for _, err := range errs {
			fails = append(fails, l.ID+": "+err.Error())
		}
		last = time.Now()
		return nil
	})
	if len(fails) > 0 {
		b.Logf("%d deposits or pickups failed, the first: %v", len(fails), fails[:min(len(fails), 5)])
	}
	return last, len(fails)
}

// rate is the arrivals' rate from the first to the last.
func rate(times []time.Time) float64 {
	if len(times) < 2 || !times[len(times)-1].After(times[0]) {
		return 0
	}
	return float64(len(times)-1) / times[len(times)-1].Sub(times[0]).Seconds()
}

// depositAndPickUp has the courier deposit every parcel in one round, then each
// recipient pick theirs up; it returns what failed. A deposit that failed is not
// picked up.
func depositAndPickUp(ctx context.Context, l *fleetsim.Locker, parcels []sim.Parcel) []error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cl := l.Client()
	defer cl.Close()
	sid, err := cl.Login(ctx, benchBadge, benchPIN)
	if err != nil {
		return []error{fmt.Errorf("login: %w", err)}
	}
	var errs []error
	var in []sim.Parcel
	for _, p := range parcels {
		if _, err := cl.Scan(ctx, sid, p.Tracking, ""); err != nil {
			errs = append(errs, fmt.Errorf("deposit of %s: %w", p.ID, err))
			continue
		}
		in = append(in, p)
	}
	if err := cl.Logout(ctx, sid); err != nil {
		errs = append(errs, fmt.Errorf("logout: %w", err))
	}
	// Recipients come once the courier has shut the doors.
	if err := untilDoorsSettle(ctx, l); err != nil {
		return append(errs, err)
	}
	for _, p := range in {
		res, err := cl.PickupCode(ctx, p.Code, p.Phone)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("pickup of %s: %w", p.ID, err))
		case len(res.Slots) != 1:
			errs = append(errs, fmt.Errorf("pickup of %s opened %d doors", p.ID, len(res.Slots)))
		}
	}
	// And the round ends when the recipients have shut the doors.
	if err := untilDoorsSettle(ctx, l); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// untilDoorsSettle waits until no door operation of the locker is in progress (every
// deposit's door shut).
func untilDoorsSettle(ctx context.Context, l *fleetsim.Locker) error {
	cl := l.Client()
	defer cl.Close()
	for {
		inv, err := cl.Inventory(ctx)
		if err != nil {
			return fmt.Errorf("inventory: %w", err)
		}
		busy := false
		for _, c := range inv {
			busy = busy || c.Op != locker.OpNone
		}
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("doors still busy: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// benchSub is a mosquitto_sub on the broker printing each message's arrival time.
type benchSub struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	times []time.Time
	done  chan struct{}
}

// startSub starts mosquitto_sub on the lockers' event topics (QoS 1, as the fleet
// side subscribes) and returns once it receives: a marker published to a topic of its
// own comes back. With an id, its session is persistent (-c -i id): the broker keeps
// its subscriptions and queues its events while it is away.
func (bf *benchFleet) startSub(b *testing.B, id string) *benchSub {
	const ready = "lockers/_bench/ready"
	bin := mqtttest.Tool(b, "mosquitto_sub")
	s := &benchSub{done: make(chan struct{})}
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(bf.broker.Port()), "-u", sim.CloudUser, "-P", benchCloudPassword,
		"-q", "1", "-t", "lockers/+/evt", "-t", ready, "-F", "%U %t"}
	if id != "" {
		args = append(args, "-c", "-i", id)
	}
	s.cmd = exec.Command(bin, args...)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.stop)
	seen := make(chan struct{}, 1)
	go func() { // ends when mosquitto_sub does
		defer close(s.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			stamp, t, _ := strings.Cut(sc.Text(), " ")
			if t == ready {
				select {
				case seen <- struct{}{}:
				default:
				}
				continue
			}
			sec, frac, _ := strings.Cut(stamp, ".")
			si, _ := strconv.ParseInt(sec, 10, 64)
			ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
			s.mu.Lock()
			s.times = append(s.times, time.Unix(si, ns))
			s.mu.Unlock()
		}
	}()
	pub := mqtttest.MustConnect(b, bf.broker.URL(), sim.CloudUser, benchCloudPassword, nil)
	defer pub.Disconnect(0)
	deadline := time.After(10 * time.Second)
	for {
		pub.Publish(ready, 0, false, "ready")
		select {
		case <-seen:
			return s
		case <-deadline:
			b.Fatal("mosquitto_sub did not receive within 10 s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *benchSub) reset() {
	s.mu.Lock()
	s.times = nil
	s.mu.Unlock()
}

func (s *benchSub) count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.times))
}

// stop ends mosquitto_sub and waits for its output to be read.
func (s *benchSub) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	<-s.done
	_ = s.cmd.Wait()
}

// benchFleetView: `lockerctl fleet` (every locker's row from its retained presence,
// JSON lines) beside `mosquitto_sub -C N` reading the same retained presences.
func (bf *benchFleet) benchFleetView(b *testing.B) {
	sub := mqtttest.Tool(b, "mosquitto_sub")
	var ctl, raw time.Duration
	runs := 0
	for b.Loop() {
		t0 := time.Now()
		cmd := exec.Command(bf.lockerctl, "-config", bf.ctlConfig, "fleet", "--json")
		var errOut strings.Builder
		cmd.Stdout, cmd.Stderr = io.Discard, &errOut
		if err := cmd.Run(); err != nil || !strings.Contains(errOut.String(), fmt.Sprintf("%d lockers: %d online", bf.n, bf.n)) {
			b.Fatalf("lockerctl fleet: %v: %s", err, errOut.String())
		}
		t1 := time.Now()
		out, err := exec.Command(sub, "-h", "127.0.0.1", "-p", strconv.Itoa(bf.broker.Port()), "-u", sim.CloudUser, "-P", benchCloudPassword,
			"-t", "lockers/+/status", "-C", strconv.Itoa(bf.n), "-W", "30").Output()
		if got := strings.Count(string(out), "\n"); err != nil || got != bf.n {
			b.Fatalf("mosquitto_sub: %v, %d presences", err, got)
		}
		ctl += t1.Sub(t0)
		raw += time.Since(t1)
		runs++
	}
	b.ReportMetric(float64(ctl.Milliseconds())/float64(runs), "lockerctl-ms")
	b.ReportMetric(float64(raw.Milliseconds())/float64(runs), "mosquitto_sub-ms")
	b.ReportMetric(ctl.Seconds()/raw.Seconds(), "lockerctl/sub")
}

// benchAnnounce: `lockerctl announce FILE` of parcels for every locker (the file's
// locker column; batches of protocol.MaxAnnounceBatch, lockerctl's default
// parallelism), timed from the command's start to its exit, every locker's reply in.
// Beside it, a paho client publishes as many messages of the commands' mean size with
// QoS 1 to the same broker (a topic no one reads), all at once and timed until the
// last PUBACK: the raw publish rate. (mosquitto_pub -l was tried first: it adds some
// 200 ms of its own at exit, more than a 100-locker announce takes.)
func (bf *benchFleet) benchAnnounce(b *testing.B) {
	perLocker := benchEnv(b, "LOCKERD_FLEET_BENCH_PARCELS", 100)
	var commands, bytes atomic.Int64
	counter := mqtttest.MustConnect(b, bf.broker.URL(), sim.CloudUser, benchCloudPassword, nil)
	if tok := counter.Subscribe("lockers/+/cmd", 0, func(_ paho.Client, m paho.Message) {
		commands.Add(1)
		bytes.Add(int64(len(m.Payload())))
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	var announce, raw time.Duration
	var parcels, msgs int64
	runs := 0
	for b.Loop() {
		b.StopTimer()
		file := filepath.Join(b.TempDir(), "parcels.csv")
		var csv strings.Builder
		csv.WriteString("locker,parcel,tracking,size,code,phone\n")
		for _, l := range bf.fleet.Lockers {
			for range perLocker {
				p := bf.cloud.NewParcel("S")
				fmt.Fprintf(&csv, "%s,%s,%s,%s,%s,%s\n", l.ID, p.ID, p.Tracking, p.Size, p.Code, p.Phone)
			}
		}
		if err := os.WriteFile(file, []byte(csv.String()), 0o600); err != nil {
			b.Fatal(err)
		}
		commands.Store(0)
		bytes.Store(0)
		b.StartTimer()

		t0 := time.Now()
		cmd := exec.Command(bf.lockerctl, "-config", bf.ctlConfig, "announce", file, "--json")
		var errOut strings.Builder
		cmd.Stdout, cmd.Stderr = io.Discard, &errOut
		if err := cmd.Run(); err != nil {
			b.Fatalf("lockerctl announce: %v: %s", err, errOut.String())
		}
		took := time.Since(t0)

		b.StopTimer()
		time.Sleep(500 * time.Millisecond) // the counter's last deliveries
		m, size := commands.Load(), bytes.Load()/max(commands.Load(), 1)
		payload := strings.Repeat("x", int(size))
		t1 := time.Now()
		toks := make([]paho.Token, 0, m)
		for range m {
			toks = append(toks, counter.Publish("lockers/_bench/raw", 1, false, payload))
		}
		for _, tok := range toks {
			if !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
				b.Fatalf("raw publish: %v", tok.Error())
			}
		}
		rawTook := time.Since(t1)
		raw += rawTook
		announce += took
		parcels += int64(perLocker * bf.n)
		msgs += m
		runs++
		b.Logf("announce: %d parcels in %d commands of %d bytes on average: %s; raw publish of as many: %s",
			perLocker*bf.n, m, size, took.Round(time.Millisecond), rawTook.Round(time.Millisecond))
		b.StartTimer()
	}
	b.ReportMetric(announce.Seconds()/float64(runs), "announce-s/op")
	b.ReportMetric(float64(parcels)/announce.Seconds(), "parcels/s")
	b.ReportMetric(float64(msgs)/announce.Seconds(), "commands/s")
	b.ReportMetric(float64(msgs)/raw.Seconds(), "raw-pub-msgs/s")
	b.ReportMetric(raw.Seconds()/announce.Seconds(), "announce/raw")
}
