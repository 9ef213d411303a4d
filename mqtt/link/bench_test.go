package link_test

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
	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// BenchmarkCommandRoundTrip measures publish -> final reply for ping
// through mosquitto and the link, reporting p50 and p99.
func BenchmarkCommandRoundTrip(b *testing.B) {
	f := fixture.New(b, fixture.Options{})
	ctx := testenv.Context(b, 10*time.Minute)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := f.Cloud.Do(ctx, fixture.Locker, &protocol.PingBody{}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkAnnounceThroughput announces ANNOUNCE_PARCELS parcels (default
// 10000) in commands of ANNOUNCE_BATCH parcels (default 100, the batch size
// a cloud should use; 1 measures the per-command cost) through mosquitto to
// the link with the in-memory command log and handler, and compares the
// rate of final replies with the rate at which the same broker delivers the
// same messages to mosquitto_sub in the same run. With the real store as
// Handler and CommandLog this is the DESIGN §8 measure (target ratio >= 0.5).
func BenchmarkAnnounceThroughput(b *testing.B) {
	testenv.LookPath(b, "mosquitto_sub")
	parcels, batch := envInt("ANNOUNCE_PARCELS", 10000), envInt("ANNOUNCE_BATCH", 100)
	n := (parcels + batch - 1) / batch
	f := fixture.New(b, fixture.Options{})
	round := 0
	tokens := func(locker string) [][]byte {
		round++
		out := make([][]byte, n)
		now := time.Now()
		for i := range out {
			body := &protocol.AnnounceBody{}
			for j := range min(batch, parcels-i*batch) {
				k := i*batch + j
				body.Parcels = append(body.Parcels, protocol.AnnouncedParcel{
					Parcel: fmt.Sprintf("p-%d-%d", round, k), Waybill: protocol.Digest{byte(k), byte(k >> 8), byte(round), 1},
					Size: protocol.SizeM, Verifier: &protocol.Digest{byte(k), byte(k >> 8), 2}, Hint: "…1234",
				})
			}
			cmd, err := cloud.Sign(fixture.FleetKey, "", locker, fmt.Sprintf("a-%s-%d-%d", locker, round, i), body, now, now.Add(time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			out[i] = cmd.Token
		}
		return out
	}
	pub := f.Raw(b, "cloud", nil)
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
	// Final replies are counted, not decoded, to keep the harness's CPU out
	// of the measurement.
	finals := make(chan struct{}, n)
	watcher := f.Raw(b, "cloud", nil)
	if tok := watcher.Subscribe(f.Topics.Reply(fixture.Locker), 1, func(_ paho.Client, m paho.Message) {
		// A message carries one reply or several (ADR 0031).
		for range bytes.Count(m.Payload(), []byte(`"status":`)) - bytes.Count(m.Payload(), []byte(`"status":"accepted"`)) {
			finals <- struct{}{}
		}
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		plainToks, linkToks := tokens(fixture.OtherLocker), tokens(fixture.Locker)
		b.StartTimer()

		// Plain subscriber: mosquitto_sub as the other locker, over TLS. A
		// first run only creates its persistent session and subscription
		// (-E), so the second one cannot miss a message however late it
		// connects; its stdout is not read (a pipe would be block-buffered).
		cert, key := f.Broker.ClientCertFiles(fixture.OtherLocker)
		args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(f.Broker.TLSPort()), "--cafile", f.Broker.CAFile(),
			"--cert", cert, "--key", key, "-q", "1", "-c", "-i", "bench-plain", "-t", f.Topics.Command(fixture.OtherLocker)}
		if out, err := exec.Command("mosquitto_sub", append(args, "-E")...).CombinedOutput(); err != nil {
			b.Fatalf("mosquitto_sub -E: %v\n%s", err, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		sub := exec.CommandContext(ctx, "mosquitto_sub", append(args, "-C", strconv.Itoa(n))...)
		start := time.Now()
		if err := sub.Start(); err != nil {
			b.Fatal(err)
		}
		publishAll(f.Topics.Command(fixture.OtherLocker), plainToks)
		if err := sub.Wait(); err != nil {
			b.Fatalf("mosquitto_sub: %v", err)
		}
		plain := time.Since(start)
		cancel()

		// The link: the same messages, until every final reply.
		start = time.Now()
		publishAll(f.Topics.Command(fixture.Locker), linkToks)
		for range n {
			fixture.Next(b, (<-chan struct{})(finals))
		}
		linked := time.Since(start)
		b.ReportMetric(float64(parcels)/linked.Seconds(), "parcels/s")
		b.ReportMetric(float64(n)/plain.Seconds(), "plain-msg/s")
		b.ReportMetric(float64(n)/linked.Seconds(), "link-cmd/s")
		b.ReportMetric(plain.Seconds()/linked.Seconds(), "ratio")
	}
	if c := f.Handler.Count(); c != n*b.N {
		b.Fatalf("handler ran %d times for %d commands", c, n*b.N)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
