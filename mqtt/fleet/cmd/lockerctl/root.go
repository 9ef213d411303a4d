package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lockerd/lockerd/internal/cli"
	"github.com/lockerd/lockerd/mqtt/fleet"
)

// version is lockerctl's version, set at build time (-X main.version=...).
var version = "dev"

// defaultConfig is where lockerctl looks for its configuration without --config.
const defaultConfig = "/etc/lockerctl/lockerctl.yaml"

const rootLong = `lockerctl is the operator's tool for a fleet of lockers: it signs commands with
the fleet key, sends them over MQTT and prints the lockers' replies, events and
presence: as tables on a terminal, as JSON lines (one per reply, event or locker)
when standard output is a pipe or a file, as scripts expect; --json and --table
choose either anywhere. Progress bars go to standard error, only on a terminal.

A command to a locker that has never connected (no retained presence) or is
offline is not sent: lockerctl says so at once. --wait sends it anyway; the broker
queues it until the locker connects (within the command's lifetime).

Tracking numbers, codes, badge tokens and PINs are read from files or standard
input, never from the command line (where other users and shell histories see
them), and leave lockerctl only as keyed digests.

The configuration file (--config, YAML; relative paths are relative to it):

  broker: ssl://broker.example.net:8883   # or tcp://host:1883 with username and password_file
  brokers: [ssl://b2.example.net:8883]    # optional: a cluster's other nodes, tried in turn
  topic_prefix: lockers                   # as the lockers' mqtt.topic_prefix
  tls: {ca: ca.pem, cert: operator.pem, key: operator.key}
  signing_key: fleet.pem                  # Ed25519, PKCS#8 PEM (keygen, or openssl genpkey -algorithm ed25519)
  x25519_key: fleet-x25519.pem            # X25519, PKCS#8 PEM; for announce, set-code, courier-new,
                                          # courier-upsert, and to verify the pinned lockers' events
                                          # and replies (unpinned: dropped)
  lockers:                                # x25519_public of each locker, from lockerd identity
    LK-0001: 9e6bcec48a0678a39aa5b89eec88a11aafe6dc47b2d4538664e5b4f7f00c7e12
  lockers_file: pins.yaml                 # optional: more pins in the same form, kept apart
  timeout: 30s                            # how long to wait for a final reply

Exit status: 0 when the locker answered done; 1 when it refused or failed or
lockerctl could not ask (the broker down, the locker unknown or offline); 2 for a
usage error or bad input (then nothing was sent); 3 when a command was sent and not
answered in time: its outcome is unknown, and it may still run until it expires
(the message names it); send a new one only once that is understood. To many
lockers (--lockers, announce FILE): 0 when every one answered done, 3 when some did
not answer, else 1.`

// env is what a subcommand works with.
type env struct {
	ctx         context.Context
	cfg         *config
	stdin       io.Reader
	stdout      io.Writer
	stderr      io.Writer
	output      outputMode    // JSON lines or tables (output.go)
	stderrTTY   bool          // progress bars only on a terminal
	wait        bool          // --wait: send to an offline locker too
	dialTook    time.Duration // connect and subscribe: a few round trips to the broker
	connectedAt time.Time     // when the subscriptions were in place (presence.go)
	client      *fleet.Client // connected on first use
}

// terminals says which of standard output and standard error are terminals: run
// asks the system, tests force it.
type terminals struct{ stdout, stderr bool }

// newRoot defines lockerctl's commands.
func newRoot(stdin io.Reader, stdout, stderr io.Writer, tty terminals) *cobra.Command {
	var cfgPath string
	var jsonOut, tableOut, wait bool
	root := &cobra.Command{
		Use:     "lockerctl",
		Short:   "Operate a fleet of lockers: signed commands over MQTT",
		Long:    rootLong,
		Version: version,
		// No command: a usage error (an unknown word is an unknown command).
		RunE: func(c *cobra.Command, _ []string) error {
			return fmt.Errorf("%w: lockerctl COMMAND ... (lockerctl help lists them)", errUsage)
		},
	}
	root.PersistentFlags().StringVarP(&cfgPath, "config", "c", defaultConfig, "configuration `FILE`")
	_ = root.MarkPersistentFlagFilename("config", "yaml", "yml")
	root.PersistentFlags().BoolVar(&jsonOut, "json", false, "print JSON lines, one per reply, event or locker (the default when standard output is not a terminal)")
	root.PersistentFlags().BoolVar(&tableOut, "table", false, "print tables for people (the default on a terminal)")
	root.PersistentFlags().BoolVar(&wait, "wait", false, "send to an offline locker too: the broker queues the command until the locker connects")

	// withEnv makes a command's RunE: the configuration loaded, the client closed after.
	withEnv := func(run func(e *env, args []string) error) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			mode, err := chooseOutput(jsonOut, tableOut, tty.stdout)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			e := &env{ctx: c.Context(), cfg: cfg, stdin: stdin, stdout: stdout, stderr: stderr,
				output: mode, stderrTTY: tty.stderr, wait: wait}
			defer func() {
				if e.client != nil {
					e.client.Close()
				}
			}()
			return run(e, args)
		}
	}
	root.AddGroup(&cobra.Group{ID: "cmd", Title: "Commands sent to a locker:"},
		&cobra.Group{ID: "watch", Title: "Watching lockers:"},
		&cobra.Group{ID: "setup", Title: "Setting up:"})
	for _, c := range lockerCommands(withEnv) {
		c.GroupID = "cmd"
		root.AddCommand(c)
	}
	for _, c := range watchCommands(withEnv) {
		c.GroupID = "watch"
		root.AddCommand(c)
	}
	keygenCmd := &cobra.Command{
		Use:   "keygen DIR",
		Short: "Make the fleet's signing and X25519 keys in DIR",
		Long: `Make the fleet's keys: DIR/fleet.pem (Ed25519, signs commands) and
DIR/fleet-x25519.pem (X25519, for the digests and the lockers' event keys), and print
the fleet: block that every locker's lockerd.yaml gets. DIR should be yours alone
(mode 0700).`,
		Example: `  install -d -m 0700 /etc/lockerctl && lockerctl keygen /etc/lockerctl`,
		Args:    cli.Args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			fleet, err := keygen(args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "# wrote %s/fleet.pem and %s/fleet-x25519.pem; every locker's lockerd.yaml gets:\n%s", args[0], args[0], fleet)
			return err
		},
		GroupID: "setup",
	}
	versionCmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the version (as --version does)",
		Args:    cli.Args(cobra.NoArgs),
		GroupID: "setup",
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(stdout, version)
			return err
		},
	}
	root.AddCommand(keygenCmd, versionCmd)
	cli.Configure(root, stdout, stderr)
	return root
}
