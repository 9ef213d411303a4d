package fleet_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/mqtttest"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// BenchmarkBacklogDrain: the fleet side taking a backlog of queued events from its
// persistent session on a real Mosquitto, beside mosquitto_sub taking the same
// messages from a persistent session of its own, in the same iteration (the fleet
// benchmark's backlog phase, sim/fleetsim, without the thousand stations around it).
// Each iteration queues LOCKERD_BACKLOG_EVENTS (default 60,000) tagged events from
// LOCKERD_BACKLOG_LOCKERS (default 1,000) lockers, in seq order per locker, into both
// sessions; mosquitto_sub then takes them, then the fleet side (Dial to the last
// NextEvent). Rates are first event to last, as in BenchmarkFleet; fleet/sub is the
// ratio issue 16 asks to be at least 0.5.
func BenchmarkBacklogDrain(b *testing.B) {
	events := benchInt(b, "LOCKERD_BACKLOG_EVENTS", 60000)
	lockers := benchInt(b, "LOCKERD_BACKLOG_LOCKERS", 1000)
	const user, pass, subID, fleetID = "cloud", "cloud-pass", "backlog-sub", "backlog-fleet"
	broker := mqtttest.Start(b, mqtttest.Options{Users: []mqtttest.User{{Name: user, Password: pass, Cloud: true}}})
	topics := protocol.MustTopics("lockers")
	keys := make(map[string][]byte, lockers)
	ids := make([]string, lockers)
	for i := range ids {
		ids[i] = fmt.Sprintf("L-%04d", i)
		keys[ids[i]] = bytes.Repeat([]byte{byte(i), byte(i >> 8), 1}, 11)[:32]
	}
	cfg := fleet.Config{
		Broker: broker.URL(), Username: user, Password: pass, Topics: topics, ClientID: fleetID,
		Persistent: true, Timeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler),
		EventKey: func(id string) []byte { return keys[id] },
	}
	dial := func() *fleet.Client {
		c, err := fleet.Dial(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	dial().Close() // the fleet side's session and subscriptions, kept while it is away
	subArgs := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(broker.Port()), "-u", user, "-P", pass,
		"-q", "1", "-c", "-i", subID, "-t", topics.Wildcard(protocol.KindEvent), "-F", "%U"}
	sub := mqtttest.Tool(b, "mosquitto_sub")
	// mosquitto_sub's session: one queued message taken and it exits, the session stays.
	pub := mqtttest.MustConnect(b, broker.URL(), user, pass, nil, func(o *paho.ClientOptions) { o.SetWriteTimeout(10 * time.Second) })
	first := exec.Command(sub, append(subArgs, "-C", "1")...)
	if err := first.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- first.Wait() }() // once: a second Wait fails with "no child processes"
	for {
		pub.Publish(topics.Event("L-warmup"), 1, false, "{}").Wait()
		select {
		case err := <-done:
			if err != nil {
				b.Fatal(err)
			}
		case <-time.After(200 * time.Millisecond):
			continue
		}
		break
	}
	// The warm-up messages queued for the fleet side: taken (and refused, no key) now.
	dial().Close()

	seq := make([]uint64, lockers)
	var fleetRate, subRate float64
	for b.Loop() {
		b.StopTimer()
		queue(b, pub, topics, ids, keys, seq, events)
		b.Logf("load %s", loadavg())
		subRate += drainSub(b, sub, subArgs, events)
		b.StartTimer()
		c := dial()
		times := make([]time.Time, 0, events)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		for len(times) < events {
			if _, err := c.NextEvent(ctx); err != nil {
				b.Fatalf("%d of %d events: %v", len(times), events, err)
			}
			times = append(times, time.Now())
		}
		cancel()
		b.StopTimer()
		if st := c.EventStats(); st.Received != uint64(events) || st.Invalid+st.Gaps+st.OutOfOrder+st.Duplicates > 0 {
			b.Fatalf("stats %+v: want each event once, in order, verified", st)
		}
		c.Close()
		fleetRate += drainRate(times)
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(fleetRate/n, "fleet-events/s")
	b.ReportMetric(subRate/n, "mosquitto_sub-events/s")
	b.ReportMetric(fleetRate/subRate, "fleet/sub")
}

// queue publishes events tagged events, round robin over the lockers, each locker's
// seqs in order, and waits for the last PUBACK.
func queue(b *testing.B, pub paho.Client, topics protocol.Topics, ids []string, keys map[string][]byte, seq []uint64, events int) {
	at := time.Now().UTC()
	var last paho.Token
	for i := range events {
		l := i % len(ids)
		seq[l]++
		id := ids[l]
		var ev protocol.Event
		var err error
		switch seq[l] % 4 {
		case 0:
			ev, err = protocol.NewEvent(fmt.Sprintf("%s-%d", id, seq[l]), seq[l], protocol.EvDeposited, at,
				&protocol.ParcelEvent{Parcel: fmt.Sprintf("p-%d-%d", l, seq[l]), Compartment: 3, Actor: "courier-7"})
		default:
			ev, err = protocol.NewEvent(fmt.Sprintf("%s-%d", id, seq[l]), seq[l], protocol.EvDoorOpened, at,
				&protocol.DoorEvent{Compartment: 3, Op: protocol.OpDeposit, Parcel: fmt.Sprintf("p-%d-%d", l, seq[l]), Actor: "courier-7"})
		}
		if err != nil {
			b.Fatal(err)
		}
		raw, err := json.Marshal(&ev)
		if err != nil {
			b.Fatal(err)
		}
		msg, err := protocol.AppendTag(keys[id], protocol.KindEvent, id, raw)
		if err != nil {
			b.Fatal(err)
		}
		last = pub.Publish(topics.Event(id), 1, false, msg)
		if i%1000 == 999 {
			last.Wait()
		}
	}
	if !last.WaitTimeout(time.Minute) || last.Error() != nil {
		b.Fatalf("publish: %v", last.Error())
	}
	time.Sleep(200 * time.Millisecond)
}

// drainSub runs mosquitto_sub on its session until it has events messages and
// returns its rate, first to last.
func drainSub(b *testing.B, bin string, args []string, events int) float64 {
	cmd := exec.Command(bin, append(args, "-C", strconv.Itoa(events))...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	times := make([]time.Time, 0, events)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		sec, frac, _ := strings.Cut(sc.Text(), ".")
		si, _ := strconv.ParseInt(sec, 10, 64)
		ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		times = append(times, time.Unix(si, ns))
	}
	if err := cmd.Wait(); err != nil || len(times) != events {
		b.Fatalf("mosquitto_sub: %d of %d messages, %v", len(times), events, err)
	}
	return drainRate(times)
}

func drainRate(times []time.Time) float64 {
	if len(times) < 2 {
		return 0
	}
	return float64(len(times)-1) / times[len(times)-1].Sub(times[0]).Seconds()
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

func benchInt(b *testing.B, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive number", name, v)
		}
		return n
	}
	return def
}
