package link_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/mqtttest"
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
// same messages to mosquitto_sub in the same run, timed from the moment it is
// connected and receiving (mqtttest.PlainSubscriber). A command counts once its
// final reply is done, by command id (mqtttest.FinalReplies): any other final
// reply fails the benchmark. Every metric is the median over all rounds of the
// run (-benchtime Nx), computed per round: "ratio" is the median of the rounds'
// ratios. With the real store as Handler and CommandLog this is the docs/architecture.md §8
// measure (target ratio >= 0.5): firmware's BenchmarkCloudAnnounce.
func BenchmarkAnnounceThroughput(b *testing.B) {
	sub := testenv.LookPath(b, "mosquitto_sub")
	parcels, batch := envInt("ANNOUNCE_PARCELS", 10000), envInt("ANNOUNCE_BATCH", 100)
	n := (parcels + batch - 1) / batch
	f := fixture.New(b, fixture.Options{})
	round := 0
	tokens := func(locker string) ([][]byte, []string) {
		round++
		out, ids := make([][]byte, n), make([]string, n)
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
			ids[i] = fmt.Sprintf("a-%s-%d-%d", locker, round, i)
			cmd, err := fleet.Sign(fixture.FleetKey, "", locker, ids[i], body, now, now.Add(time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			out[i] = cmd.Token
		}
		return out, ids
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
	finals := mqtttest.NewFinalReplies()
	watcher := f.Raw(b, "cloud", nil)
	if tok := watcher.Subscribe(f.Topics.Reply(fixture.Locker), 1, func(_ paho.Client, m paho.Message) {
		finals.Handle(m.Payload())
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	// Plain subscriber: mosquitto_sub as the other locker, over TLS.
	cert, key := f.Broker.ClientCertFiles(fixture.OtherLocker)
	plainSub := mqtttest.PlainSubscriber{Path: sub, Args: []string{"-h", "127.0.0.1", "-p", strconv.Itoa(f.Broker.TLSPort()),
		"--cafile", f.Broker.CAFile(), "--cert", cert, "--key", key, "-q", "1", "-c", "-i", "bench-plain",
		"-t", f.Topics.Command(fixture.OtherLocker)}}
	mark := func() error {
		tok := pub.Publish(f.Topics.Command(fixture.OtherLocker), 1, false, []byte("mark"))
		if !tok.WaitTimeout(time.Minute) {
			return errors.New("mark not acknowledged within a minute")
		}
		return tok.Error()
	}
	var ratios, plainRate, linkRate []float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		plainToks, _ := tokens(fixture.OtherLocker)
		linkToks, ids := tokens(fixture.Locker)
		b.StartTimer()

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		plain, err := plainSub.Receive(ctx, n, mark, func() error {
			publishAll(f.Topics.Command(fixture.OtherLocker), plainToks)
			return nil
		})
		cancel()
		if err != nil {
			b.Fatal(err)
		}

		// The link: the same messages, until every final reply.
		finals.Expect(ids)
		start := time.Now()
		publishAll(f.Topics.Command(fixture.Locker), linkToks)
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Minute)
		err = finals.Wait(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		linked := time.Since(start)
		ratios = append(ratios, plain.Seconds()/linked.Seconds())
		plainRate = append(plainRate, float64(n)/plain.Seconds())
		linkRate = append(linkRate, float64(n)/linked.Seconds())
	}
	b.StopTimer()
	b.ReportMetric(median(linkRate)*float64(parcels)/float64(n), "parcels/s")
	b.ReportMetric(median(plainRate), "plain-msg/s")
	b.ReportMetric(median(linkRate), "link-cmd/s")
	b.ReportMetric(median(ratios), "ratio")
	if c := f.Handler.Count(); c != n*b.N {
		b.Fatalf("handler ran %d times for %d commands", c, n*b.N)
	}
}

// median returns the median of xs (which it sorts).
func median(xs []float64) float64 {
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
