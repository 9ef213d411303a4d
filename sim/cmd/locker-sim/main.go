// Command locker-sim runs a virtual parcel locker: the real lockerd driving virtual
// CU16 lock boards on a pseudo-terminal, relay doors on fake GPIO pins and a front panel
// (a virtual scanner on a pseudo-terminal, a keypad on fake pins), with a simulated cloud. By default it plays a
// deposit-and-pickup scenario and exits; -serve keeps the station running for manual
// use of its control socket and of the simulator's page in the browser (its address
// is printed as "sim: http://127.0.0.1:PORT/" either way).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/sim"
)

func main() {
	if err := run(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "locker-sim:", err)
		os.Exit(1)
	}
}

func run() (rerr error) {
	dir := flag.String("dir", "", "working directory (default: a new temporary one, removed at exit)")
	serve := flag.Bool("serve", false, "keep the station running after the scenario")
	verbose := flag.Bool("v", false, "show lockerd's own log")
	staffed := flag.Bool("staffed", false, "also play a staffed pickup point: shelves and handover by scan")
	webAddr := flag.String("web", "127.0.0.1:0", "loopback address of the simulator's page in the browser (port 0: any free one)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags start with -; see -h)", flag.Arg(0))
	}

	// SIGHUP too (a closed terminal): the temporary directory holds the fleet's keys.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	reused := *dir != ""
	if *dir == "" {
		d, err := os.MkdirTemp("", "locker-sim-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	cloud, err := sim.NewCloud()
	if err != nil {
		return err
	}
	if reused { // an earlier run's parcels may be there: new ids, not theirs
		cloud.ParcelIDPrefix = sim.RandomCode(4) + "-"
	}
	side, err := sim.StartFleetSide(ctx, cloud, log)
	if err != nil {
		return err
	}
	defer side.Close()
	mq, err := side.Broker.AddLocker("SIM-0001", filepath.Join(*dir, "SIM-0001"))
	if err != nil {
		return err
	}
	st, err := sim.NewStation(sim.StationOptions{LockerID: "SIM-0001", Dir: filepath.Join(*dir, "SIM-0001"),
		Cloud: cloud, Logger: log, Person: lockboardtest.OpenThenClose(400*time.Millisecond, 900*time.Millisecond),
		Hardware: sim.HardwareOptions{GPIODoors: 4, Scanner: true, Keypad: true}, MQTT: mq, KioskListen: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Printf("virtual locker SIM-0001: %d compartments: 24 on 2 CU16 boards at %s, 4 GPIO relay doors on fake pins;\n"+
		"  front panel: a scanner at %s and a 4x4 keypad on fake pins; cloud link: embedded broker at %s\n",
		len(st.Config.Compartments), st.Boards.Path(), st.Scanner.Path(), side.Broker.URL())
	st.Screens.Print = printScreen
	web, err := sim.NewWeb(*webAddr, sim.WebOptions{Station: st, Cloud: cloud, Fleet: side.Client, Logger: log, Out: os.Stdout})
	if err != nil {
		return err
	}
	fmt.Printf("sim: %s\n", web.URL())
	// The locker's own screen: lockerd tells its address once it listens, after this.
	st.OnKiosk = func(url string) { fmt.Printf("kiosk: %s\n", url); web.SetKioskURL(url) }

	events := sim.NewEvents(1024)
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- web.Serve(ctx) }()
	defer func() { cancel(); <-served }()
	observe := func(ev locker.Event) { events.Observe(ev); web.Observe(ev) }
	printed := make(chan error, 1)
	go func() { printed <- sim.PrintEvents(ctx, os.Stdout, side.Client) }()
	defer func() {
		cancel()
		// A printer that stopped early means events the newcomer did not see: a failed run.
		if perr := <-printed; perr != nil && !errors.Is(perr, context.Canceled) && rerr == nil {
			rerr = fmt.Errorf("printing the cloud's events: %w", perr)
		}
	}()
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx, log, observe, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		return fmt.Errorf("lockerd did not start: %w", err)
	}
	sc := &sim.Scenario{Out: os.Stdout, Station: st, Cloud: cloud, Events: events, Fleet: side.Client, Texts: web.Text}
	err = sc.Run(ctx)
	if err == nil && *staffed {
		err = runStaffed(ctx, filepath.Join(*dir, "SIM-0002"), cloud, log)
	}
	if err != nil {
		cancel()
		<-done
		return err
	}
	if *serve {
		id, err := st.Client().Identity(ctx)
		if err != nil {
			cancel()
			<-done
			return err
		}
		ctl, err := sim.WriteLockerctlConfig(*dir, cloud, side.Broker.URL(), side.Broker.CloudPassword(), map[string]string{id.LockerID: id.Public})
		if err != nil {
			cancel()
			<-done
			return err
		}
		fmt.Printf("serving; play courier and recipient in the browser at %s; control socket %s (Ctrl-C to stop)\n"+
			"operator CLI, as the simulated fleet: go run ./mqtt/fleet/cmd/lockerctl -config %s status SIM-0001\n"+
			"  (also: inventory, events, open SIM-0001 3 -operator you, audit SIM-0001 -from 1; see go doc ./mqtt/fleet/cmd/lockerctl)\n",
			web.URL(), st.Config.Control.Socket, ctl)
		<-ctx.Done()
	}
	cancel()
	return <-done
}

// printScreen shows what the panel's display would show, except the dots of typing.
func printScreen(sc panel.Screen) {
	if sc.Prompt == panel.PromptTyping {
		return
	}
	var doors []string
	for _, sl := range sc.Slots {
		doors = append(doors, sl.Label)
	}
	detail := ""
	switch {
	case len(doors) > 0:
		detail = " " + strings.Join(doors, ",")
	case sc.Prompt == panel.PromptSize:
		detail = " " + sc.Size.String()
	}
	fmt.Printf("%-9s [%s] %s%s\n", "panel:", sc.Mode, sc.Prompt, detail)
}

// runStaffed starts a second station, a staffed pickup point with shelves, and plays
// its scenario.
func runStaffed(ctx context.Context, dir string, cloud *sim.Cloud, log *slog.Logger) error {
	st, err := sim.NewStation(sim.StationOptions{LockerID: "SIM-0002", Dir: dir, Cloud: cloud, Logger: log, Shelves: 4})
	if err != nil {
		return err
	}
	fmt.Printf("--- staffed pickup point SIM-0002: %d shelves, handover by scan\n", len(st.Config.Compartments))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx, log, nil, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		return fmt.Errorf("lockerd did not start: %w", err)
	}
	err = (&sim.Scenario{Out: os.Stdout, Station: st, Cloud: cloud}).RunStaffed(ctx)
	cancel()
	if rerr := <-done; err == nil {
		err = rerr
	}
	return err
}
