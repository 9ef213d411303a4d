// Command lockerd is the parcel-locker controller daemon.
//
//	lockerd [--config FILE] [run]      run the station (the default)
//	lockerd [--config FILE] check      validate the config and exit (--offline: for another machine)
//	lockerd [--config FILE] identity   print the device's public key for the cloud
//	lockerd [--config FILE] audit      verify the audit log's hash chain
//	lockerd [--config FILE] hwtest     check the hardware on site (lockerd stopped)
//	lockerd version                    (or --version)
//	lockerd help [COMMAND]             (or -h on any command); man lockerd; lockerd completion bash|zsh|fish
//
// Exit status: 0 on success, 1 on any error (a usage error included). The commands are
// defined once, with cobra (internal/cli), and the help, man pages and completion
// scripts are generated from those definitions.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/update"
	"github.com/lockerd/lockerd/internal/cli"
)

func main() {
	// Catch SIGINT/SIGTERM/SIGHUP before anything else: a stop that arrives during start-up is
	// a clean stop too, not a kill.
	// SIGHUP too: hwtest runs over SSH, and a dropped session must still halt the
	// outputs (a relay left energised) rather than kill the process outright.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs lockerd with args and returns its exit status: 0, or 1 after any error
// (a usage error too, as before the commands moved to cobra).
func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	if err := cli.Execute(ctx, newRoot(out, errOut), args); err != nil {
		fmt.Fprintln(errOut, "lockerd:", err)
		// update verify: the installer reads "refused REASON" and exit status 3.
		var r *update.Refusal
		if errors.As(err, &r) {
			fmt.Fprintln(out, "refused", r.Reason)
			return 3
		}
		return 1
	}
	return 0
}

// defaultConfig is where the package installs the configuration (a conffile).
const defaultConfig = "/etc/lockerd/lockerd.yaml"

// newRoot defines lockerd's commands. out is where their results go (the logs go to
// standard error).
func newRoot(out, errOut io.Writer) *cobra.Command {
	var cfgPath string
	// load reads the configuration and sets up logging as it says.
	load := func() (*config.Config, *slog.Logger, error) {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return nil, nil, err
		}
		log := newLogger(cfg.Log)
		slog.SetDefault(log)
		return cfg, log, nil
	}
	runCmd := &cobra.Command{
		Use:   "run",
		Short: "Run the station (the default command)",
		Long: `Run the station: open the store and the keys, start the drivers, serve the
panel, the control socket and the cloud link until SIGINT or SIGTERM. Under systemd
(Type=notify) lockerd reports READY=1 once it serves and feeds the unit's watchdog
only while the station's loop is alive.`,
		Args: cli.Args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, log, err := load()
			if err != nil {
				return err
			}
			err = firmware.Run(c.Context(), cfg, log, firmware.Options{})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	root := &cobra.Command{
		Use:   "lockerd",
		Short: "The parcel-locker controller daemon",
		Long: `lockerd runs a parcel locker: its lock boards, door sensors, keypad and scanner,
its store of parcels, and its link to the cloud. Without a command it runs the
station (lockerd run). The configuration is a YAML file (docs/config.md); check
validates it before the first start.`,
		Version: firmware.Version,
		// No command: run, as lockerd always has (an unknown word is an unknown
		// command, not a run).
		RunE: runCmd.RunE,
	}
	root.PersistentFlags().StringVarP(&cfgPath, "config", "c", defaultConfig, "configuration `FILE`")
	_ = root.MarkPersistentFlagFilename("config", "yaml", "yml")

	var offline bool
	checkCmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and exit",
		Long: `Validate the configuration as run would, and exit: 0 and "ok" when it is usable,
1 and every problem found (field, line, how to fix) when it is not. Run it as the
user lockerd runs as (sudo -u lockerd lockerd check): the files it names must be
readable by that user, and by no one else where they hold secrets. It also says
what a copy of the SD card would yield with this configuration.

With --offline the configuration is for another machine: devices absent here
(serial ports, GPIO chips) are warnings, not errors.`,
		Example: `  sudo -u lockerd lockerd check
  lockerd check --offline --config site-42.yaml`,
		Args: cli.Args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, log, err := load()
			if err != nil {
				return err
			}
			warnings, err := firmware.Check(cfg, log, firmware.CheckOptions{Offline: offline})
			for _, w := range warnings {
				fmt.Fprintln(c.ErrOrStderr(), "lockerd: warning:", w)
			}
			if err != nil {
				return err
			}
			if !offline {
				// The binary that would run: replaceable without root? (docs/field.md)
				if in, err := firmware.CheckIntegrity(); err == nil {
					for _, f := range in.Findings {
						fmt.Fprintln(c.ErrOrStderr(), "lockerd: warning: integrity:", f)
					}
				}
			}
			fmt.Fprintf(out, "%s: ok (%d compartments)\n", cfgPath, len(cfg.Compartments))
			// What a copy of the card yields, in so many words (docs/privacy.md §6).
			fmt.Fprintln(out, firmware.Exposure(cfg))
			return nil
		},
	}
	checkCmd.Flags().BoolVar(&offline, "offline", false, "the configuration is for another machine: absent devices are warnings")

	identityCmd := &cobra.Command{
		Use:   "identity",
		Short: "Print the device's public key, for enrolment in the cloud",
		Long: `Print the locker's id, its X25519 public key and its key store, for enrolment in
the cloud (lockerctl's lockers: pins). With keys: tpm the first call enrols the
station (lockerd stopped, or both use the TPM through the kernel's resource manager).`,
		Args: cli.Args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, log, err := load()
			if err != nil {
				return err
			}
			keys, err := firmware.OpenKeys(cfg, log, nil)
			if err != nil {
				return err
			}
			defer keys.Close()
			fmt.Fprintf(out, "locker_id: %s\nx25519_public: %s\nkeys: %s\n", cfg.LockerID, keys.PublicHex(), cfg.KeyStore())
			return nil
		},
	}
	auditCmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify the audit log's hash chain (lockerd stopped)",
		Args:  cli.Args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, _, err := load()
			if err != nil {
				return err
			}
			n, err := firmware.VerifyAudit(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "audit chain verifies: %d entries\n", n)
			return nil
		},
	}
	hwtestCmd := &cobra.Command{
		Use:   "hwtest",
		Short: "Check the hardware on site, interactively (lockerd stopped)",
		Long: `Walk the installer through the hardware: each door opened and its sensor read,
the keypad and the scanner tried. lockerd must be stopped (it holds the ports).
Ctrl-C, or a dropped SSH session, halts every output before exiting.`,
		Args: cli.Args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, _, err := load()
			if err != nil {
				return err
			}
			in := pollableStdin()
			defer in.Close()
			// Drivers log warnings only: the installer reads the hwtest dialogue.
			dlog := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
			return firmware.HWTest(c.Context(), cfg, firmware.HWTestOptions{In: in, Out: out, Log: dlog})
		},
	}
	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version (as --version does)",
		Args:  cli.Args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(out, firmware.Version)
			return err
		},
	}
	var spool, copyTo, installed string
	verifyCmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify a spooled release again, for the root installer",
		Long: `Verify the release lockerd spooled (update.spool) again from scratch, as the root
installer (lockerd-update, started by lockerd-update.path) does before it installs
anything: the manifest's signature against the pinned release keys (never the command
key), the command's agreement with it, the version order against --installed, the
architecture, the size, the store schema and the package's digest; the package is
copied to --copy. Prints "VERSION SECONDS" (the health timeout) and exits 0, or prints
"refused REASON" and exits 3 (docs/updates.md lists the reasons).`,
		Example: `  lockerd update verify --copy /var/lib/lockerd-update/new.deb --installed 1.4.0`,
		Args:    cli.Args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, _, err := load()
			if err != nil {
				return err
			}
			if spool != "" {
				cfg.Update.Spool = spool
			}
			version, health, err := firmware.VerifyUpdate(cfg, copyTo, installed)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, version, int(health.Seconds()))
			return nil
		},
	}
	verifyCmd.Flags().StringVar(&spool, "spool", "", "lockerd's spool directory (default: update.spool)")
	verifyCmd.Flags().StringVar(&copyTo, "copy", "", "where to copy the verified package (root's directory)")
	verifyCmd.Flags().StringVar(&installed, "installed", "", "the installed version (dpkg-query -W -f '${Version}' lockerd)")
	_ = verifyCmd.MarkFlagRequired("copy")
	_ = verifyCmd.MarkFlagRequired("installed")
	updateCmd := &cobra.Command{
		Use:   "update",
		Short: "Signed updates: the installer's side (docs/updates.md)",
		Args:  cli.Args(cobra.NoArgs),
	}
	updateCmd.AddCommand(verifyCmd)
	root.AddCommand(runCmd, checkCmd, identityCmd, auditCmd, hwtestCmd, versionCmd, updateCmd)
	cli.Configure(root, out, errOut)
	return root
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
