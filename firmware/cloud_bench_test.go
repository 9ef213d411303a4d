package firmware_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/cloud"
	"github.com/lockerd/lockerd/mqtt/mqtttest"
	"github.com/lockerd/lockerd/mqtt/protocol"
	"github.com/lockerd/lockerd/sim"
)

// benchWorld is lockerd as a process, enrolled, on a real mosquitto.
func benchWorld(b *testing.B, id string, o cloudWorldOptions) (*cloudWorld, *daemon, context.Context) {
	o.lockerID = id
	w := newCloudWorld(b, o)
	d := newDaemon(b, w.station)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	b.Cleanup(cancel)
	if err := d.start(ctx); err != nil {
		b.Fatal(err)
	}
	w.online(ctx, b, "")
	if _, err := w.cloud.EnrolOver(ctx, w.client, id); err != nil {
		b.Fatal(err)
	}
	return w, d, ctx
}

// BenchmarkCloudRoundTrip measures publish -> final reply through mosquitto and lockerd
// (a process with its real store): ping takes the one-write path, courier-upsert the
// Begin/execute/Finish path.
func BenchmarkCloudRoundTrip(b *testing.B) {
	w, _, ctx := benchWorld(b, "RTT-01", cloudWorldOptions{})
	for _, tc := range []struct {
		name string
		body func(i int) protocol.Body
	}{
		{"ping", func(int) protocol.Body { return &protocol.PingBody{} }},
		{"courier-upsert", func(i int) protocol.Body {
			body, err := w.cloud.WireCourier(w.station.ID, fmt.Sprintf("c-%d", i), "BADGE", strconv.Itoa(1000+i), protocol.RightDeposit)
			if err != nil {
				b.Fatal(err)
			}
			return body
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for i := range b.N {
				start := time.Now()
				if _, err := w.client.Do(ctx, w.station.ID, tc.body(i)); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkCloudAnnounce is DESIGN §8's measure: ANNOUNCE_PARCELS parcels (default
// 10,000) in commands of ANNOUNCE_BATCH (default 100) through mosquitto to lockerd, a
// process with its real store, until every final reply says done (so the batch is
// applied and durable), beside the time the same broker takes to deliver the same
// number of commands of the same size to mosquitto_sub, in the same run. The ratio
// (plain time / lockerd time) is the rate ratio; the target is >= 0.5.
func BenchmarkCloudAnnounce(b *testing.B) {
	sub := mqtttest.Tool(b, "mosquitto_sub")
	parcels, batch := envInt("ANNOUNCE_PARCELS", 10000), envInt("ANNOUNCE_BATCH", 100)
	n := (parcels + batch - 1) / batch
	const other = "PLAIN-1" // the plain subscriber's locker id
	tlsOn := os.Getenv("ANNOUNCE_TLS") != "0"
	w, d, ctx := benchWorld(b, "ANN-01", cloudWorldOptions{plain: !tlsOn, plainUsers: []string{other}, logLevel: os.Getenv("ANNOUNCE_LOG")})
	used := map[string]bool{} // random tracking numbers may collide, and a clash is refused
	tracking := func() string {
		for {
			if tn := sim.RandomS10(); !used[tn] {
				used[tn] = true
				return tn
			}
		}
	}
	tokens := func(round int) (mine, plain [][]byte) {
		now := time.Now()
		for i := range n {
			body := &protocol.AnnounceBody{}
			for j := range min(batch, parcels-i*batch) {
				p := sim.Parcel{ID: fmt.Sprintf("p-%d-%d-%d", round, i, j), Tracking: tracking(), Code: sim.RandomCode(8), Size: "M"}
				a, err := w.cloud.WireParcel(w.station.ID, p)
				if err != nil {
					b.Fatal(err)
				}
				body.Parcels = append(body.Parcels, a)
			}
			for _, to := range []string{w.station.ID, other} {
				cmd, err := cloud.Sign(w.cloud.Signing, "", to, fmt.Sprintf("a-%d-%d", round, i), body, now, now.Add(time.Hour))
				if err != nil {
					b.Fatal(err)
				}
				if to == other {
					plain = append(plain, cmd.Token)
				} else {
					mine = append(mine, cmd.Token)
				}
			}
		}
		return mine, plain
	}
	pub := w.raw(b, "bench-pub")
	publishAll := func(topic string, toks [][]byte) {
		pending := make([]paho.Token, len(toks))
		for i, tok := range toks {
			pending[i] = pub.Publish(topic, 1, false, tok)
		}
		for _, p := range pending {
			if !p.WaitTimeout(time.Minute) || p.Error() != nil {
				b.Fatalf("publish: %v", p.Error())
			}
		}
	}
	finals, bad := make(chan struct{}, n), make(chan string, n)
	watcher := w.raw(b, "bench-watch")
	topics := protocol.MustTopics("lockers")
	if tok := watcher.Subscribe(topics.Reply(w.station.ID), 1, func(_ paho.Client, m paho.Message) {
		switch {
		case bytes.Contains(m.Payload(), []byte(`"status":"done"`)) && !bytes.Contains(m.Payload(), []byte(`"reason"`)):
			finals <- struct{}{}
		case !bytes.Contains(m.Payload(), []byte(`"status":"accepted"`)):
			bad <- string(m.Payload())
		}
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	cert, key := w.broker.ClientCertFiles(other)
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(w.broker.TLSPort()), "--cafile", w.broker.CAFile(),
		"--cert", cert, "--key", key, "-q", "1", "-c", "-i", "bench-plain", "-t", topics.Command(other)}
	if !tlsOn { // the password listener, as lockerd uses it
		args = []string{"-h", "127.0.0.1", "-p", strconv.Itoa(w.broker.Port()), "-u", other, "-P", other + "-pw",
			"-q", "1", "-c", "-i", "bench-plain", "-t", topics.Command(other)}
	}
	b.ResetTimer()
	for round := range b.N {
		b.StopTimer()
		mine, plain := tokens(round)
		b.StartTimer()

		// The plain subscriber: a first run only creates its persistent session (-E), so
		// the measured one cannot miss a message however late it connects.
		if out, err := exec.Command(sub, append(args, "-E")...).CombinedOutput(); err != nil {
			b.Fatalf("mosquitto_sub -E: %v\n%s", err, out)
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		s := exec.CommandContext(sctx, sub, append(args, "-C", strconv.Itoa(n))...)
		start := time.Now()
		if err := s.Start(); err != nil {
			b.Fatal(err)
		}
		publishAll(topics.Command(other), plain)
		if err := s.Wait(); err != nil {
			b.Fatalf("mosquitto_sub: %v", err)
		}
		plainTime := time.Since(start)
		cancel()

		start = time.Now()
		ticks0, _ := cpuTicks(d.pid())
		publishAll(topics.Command(w.station.ID), mine)
		for range n {
			select {
			case <-finals:
			case r := <-bad:
				b.Fatalf("announce not applied: %s", r)
			case <-time.After(time.Minute):
				b.Fatal("no final reply within a minute")
			}
		}
		lockerdTime := time.Since(start)
		ticks1, _ := cpuTicks(d.pid())
		b.ReportMetric(float64(ticks1-ticks0)*10000/float64(n), "lockerd-cpu-µs/cmd") // 100 ticks a second
		b.ReportMetric(float64(parcels)/lockerdTime.Seconds(), "parcels/s")
		b.ReportMetric(float64(n)/plainTime.Seconds(), "plain-msg/s")
		b.ReportMetric(float64(n)/lockerdTime.Seconds(), "lockerd-cmd/s")
		b.ReportMetric(plainTime.Seconds()/lockerdTime.Seconds(), "ratio")
	}
}

// raw connects a plain paho client with cloud rights.
func (w *cloudWorld) raw(t testing.TB, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(w.broker.TLSURL()).SetTLSConfig(w.broker.ClientTLS(cloudCN)).
		SetClientID(id).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetOrderMatters(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
