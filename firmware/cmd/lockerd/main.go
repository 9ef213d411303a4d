// Command lockerd is the parcel-locker controller daemon.
//
//	lockerd [-config FILE] [run]       run the station (default)
//	lockerd [-config FILE] check       validate the config and exit
//	lockerd [-config FILE] identity    print the device's public key for the cloud
//	lockerd [-config FILE] audit       verify the audit log's hash chain
//	lockerd [-config FILE] hwtest      check the hardware on site (lockerd stopped)
//	lockerd version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/config"
)

func main() {
	// Catch SIGINT/SIGTERM/SIGHUP before anything else: a stop that arrives during start-up is
	// a clean stop too, not a kill.
	// SIGHUP too: hwtest runs over SSH, and a dropped session must still halt the
	// outputs (a relay left energised) rather than kill the process outright.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lockerd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("lockerd", flag.ContinueOnError)
	cfgPath := fs.String("config", "/etc/lockerd/lockerd.yaml", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cmd := "run"
	if fs.NArg() > 0 {
		cmd = fs.Arg(0)
	}
	if cmd == "version" {
		fmt.Println(firmware.Version)
		return nil
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log)
	slog.SetDefault(log)
	switch cmd {
	case "run":
		err := firmware.Run(ctx, cfg, log, firmware.Options{})
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	case "check":
		// Run it as the user lockerd runs as (sudo -u lockerd): the files must be
		// readable by that user, and by no one else where they hold secrets.
		keys, err := firmware.CheckKeys(cfg, log)
		if err != nil {
			return err
		}
		if keys != nil {
			defer keys.Close()
		}
		if err := firmware.CheckCloudLinkFiles(cfg); err != nil {
			return err
		}
		fmt.Printf("%s: ok (%d compartments)\n", *cfgPath, len(cfg.Compartments))
		// What a copy of the card yields, in so many words (docs/privacy.md §6).
		fmt.Println(firmware.Exposure(cfg))
		return nil
	case "identity":
		// With keys: tpm the first call enrols the station (lockerd stopped, or both
		// use the TPM through the kernel's resource manager).
		keys, err := firmware.OpenKeys(cfg, log, nil)
		if err != nil {
			return err
		}
		defer keys.Close()
		fmt.Printf("locker_id: %s\nx25519_public: %s\nkeys: %s\n", cfg.LockerID, keys.PublicHex(), cfg.KeyStore())
		return nil
	case "hwtest":
		in := pollableStdin()
		defer in.Close()
		// Drivers log warnings only: the installer reads the hwtest dialogue.
		dlog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return firmware.HWTest(ctx, cfg, firmware.HWTestOptions{In: in, Out: os.Stdout, Log: dlog})
	case "audit":
		n, err := firmware.VerifyAudit(cfg)
		if err != nil {
			return err
		}
		fmt.Printf("audit chain verifies: %d entries\n", n)
		return nil
	}
	return fmt.Errorf("unknown command %q (run, check, identity, audit, hwtest, version)", cmd)
}

// pollableStdin returns standard input as a file that Close interrupts (non-blocking,
// served by the runtime poller), so that hwtest can stop reading it on Ctrl-C. Its
// Close first puts the descriptor back in the blocking mode the shell expects (the
// flag is shared with it). Where that fails (a regular file) it returns os.Stdin.
func pollableStdin() io.ReadCloser {
	if err := syscall.SetNonblock(0, true); err != nil {
		return os.Stdin
	}
	return stdin{os.NewFile(0, "stdin")}
}

type stdin struct{ *os.File }

func (s stdin) Close() error {
	_ = syscall.SetNonblock(0, false)
	return s.File.Close()
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
