// Command locker-fleet runs a fleet of lockers in one process (sim/fleetsim): each a
// real lockerd with its own store, keys and MQTT session, on in-memory GPIO doors, and
// a fleet side built on mqtt/fleet that plays a day of traffic compressed into
// minutes and checks that every locker's events arrive once and in order.
//
//	locker-fleet -n 1000                       # on the simulator's embedded broker
//	locker-fleet -n 1000 -broker tcp://127.0.0.1:1883 -password-dir DIR   # on your own broker
//
// The stores go on a tmpfs (/dev/shm) by default: a fleet run measures the fleet side
// and the broker, not flash.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // -pprof: profiles of a large run
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/sim"
	"github.com/lockerd/lockerd/sim/fleetsim"
)

func main() {
	if err := run(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "locker-fleet:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 100, "lockers")
	doors := flag.Int("doors", 8, "doors per locker")
	day := flag.Duration("day", 3*time.Minute, "the simulated day, compressed")
	parcels := flag.Int("parcels", 3, "parcels per locker in the day")
	offline := flag.Float64("offline", 0.1, "share of lockers that go offline once, for a tenth of the day")
	broker := flag.String("broker", "", "broker URL (default: the simulator's embedded broker)")
	brokers := flag.String("brokers", "", "more URLs of the same broker cluster, comma-separated")
	cloudUser := flag.String("cloud-user", "cloud", "the fleet side's account on -broker")
	cloudPass := flag.String("cloud-password", "", "its password")
	pwDir := flag.String("password-dir", "", "with -broker: DIR/<locker id> holds each locker's broker password")
	base := flag.String("dir", "", "where the lockers' stores go (default: a new directory on /dev/shm, removed at exit)")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback `address` (127.0.0.1:6060) to profile a large run")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags start with -; see -h)", flag.Arg(0))
	}
	if *pprofAddr != "" {
		ln, err := listenLoopback(*pprofAddr)
		if err != nil {
			return fmt.Errorf("-pprof: %w", err)
		}
		go func() { _ = http.Serve(ln, nil) }() // lives as long as the process
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if *base == "" {
		parent := "/dev/shm"
		if _, err := os.Stat(parent); err != nil {
			parent = ""
		}
		d, err := os.MkdirTemp(parent, "locker-fleet-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*base = d
	}
	cloud, err := sim.NewCloud()
	if err != nil {
		return err
	}
	var more []string
	if *brokers != "" {
		more = strings.Split(*brokers, ",")
	}
	fc := fleet.Config{Broker: *broker, Brokers: more, ClientID: "locker-fleet", Username: *cloudUser,
		Password: *cloudPass, Persistent: true, Logger: log, ResendAfter: 5 * time.Second, ReorderWindow: *day,
		EventKey: func(id string) []byte {
			k, err := cloud.Keys(id)
			if err != nil {
				return nil
			}
			return k.EventKey()
		}}
	account := func(id, dir string) (config.MQTT, error) {
		pw := filepath.Join(*pwDir, id)
		if _, err := os.Stat(pw); err != nil {
			return config.MQTT{}, fmt.Errorf("-password-dir: %w", err)
		}
		return config.MQTT{Broker: *broker, Brokers: more, PasswordFile: pw}, nil
	}
	if *broker == "" {
		b, err := sim.StartBroker(log)
		if err != nil {
			return err
		}
		defer b.Close()
		fc.Broker, fc.Username, fc.Password = b.URL(), sim.CloudUser, b.CloudPassword()
		account = func(id, dir string) (config.MQTT, error) { return b.AddLocker(id, dir) }
		fmt.Printf("broker: embedded, %s\n", b.URL())
	}
	client, err := cloud.Connect(ctx, fc)
	if err != nil {
		return err
	}
	defer client.Close()
	t0 := time.Now()
	// The lockers' own logs at error level: each would say at start that keys: file
	// leaves its keys on the card, a thousand times.
	lockerLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	f, err := fleetsim.New(fleetsim.Options{Lockers: *n, Doors: *doors, Dir: *base, Cloud: cloud, Account: account, Log: lockerLog})
	if err != nil {
		return err
	}
	defer f.Close()
	tr := &fleetsim.Traffic{Fleet: f, Cloud: cloud, Client: client, Day: *day, Parcels: *parcels, Offline: *offline, Log: log}
	fmt.Printf("starting %d lockers (stores under %s, a tmpfs: this measures the fleet side, not flash)\n", *n, *base)
	if err := tr.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("%d lockers serving after %s; a day of traffic in %s\n", *n, time.Since(t0).Round(time.Millisecond), *day)
	rep, err := tr.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("announced %d, deposited %d, picked up %d; %d lockers went offline and came back\n",
		rep.Announced, rep.Deposited, rep.PickedUp, rep.Offline)
	fmt.Printf("fleet side: %d events, each once and in order (%d duplicates dropped by id, %d held back for order, %d gaps)\n",
		rep.Events, rep.Stats.Duplicates, rep.Stats.Reordered, rep.Stats.Gaps)
	for _, p := range rep.Problems {
		fmt.Println("problem:", p)
	}
	if len(rep.Problems) > 0 {
		return fmt.Errorf("%d problems", len(rep.Problems))
	}
	return nil
}

// listenLoopback listens on addr, which must be a loopback address: profiles show
// the process's memory.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s is not a loopback address", addr)
	}
	return net.Listen("tcp", addr)
}
