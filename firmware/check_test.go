package firmware_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"

	"github.com/lockerd/lockerd/drivers/gpiotest"
	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/internal/testenv"
)

// checkDoc is a good config; {state}, {run} and {tty} are filled per case. Its line
// numbers are in the expected messages below.
const checkDoc = `locker_id: LK-T1
state_dir: {state}
fleet:
  x25519_public: {x25519}
  ed25519_public: {ed25519}
policy:
  retention: 72h
control:
  socket: {run}/control.sock
hardware:
  lockboards:
    - name: bus0
      port: {tty}
      protocol: cu16
      boards:
        - addr: 0
  gpio_doors:
    - name: gpio
      doors:
        - {relay: GPIO5, sensor: GPIO17}
compartments:
  - {id: 1, size: S, door: {driver: bus0, board: 0, lock: 1}}
  - {id: 2, size: M, door: {driver: gpio, lock: 1}}
`

// boardPins is a Pi's header as a fake registry: GPIO0 to GPIO27.
func boardPins() func(string) gpio.PinIO {
	r := gpiotest.Registry{}
	for i := range 28 {
		n := fmt.Sprintf("GPIO%d", i)
		r[n] = gpiotest.NewPin(n, i, gpio.Low)
	}
	return r.ByName
}

type checkEnv struct{ state, run, tty string }

// TestCheckAgreesWithRun: every broken config that issue 15 lists (and more) gets its
// exact message from check, and run does what check says: refuses to start with the
// same words, or starts with the driver failed and the same words in its log. check
// --offline makes what only the target machine can judge a warning.
func TestCheckAgreesWithRun(t *testing.T) {
	x25519 := strings.Repeat("5a", 32)
	ed := hex.EncodeToString(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey))
	replace := func(old, new string) func(string) string {
		return func(doc string) string {
			if !strings.Contains(doc, old) {
				panic("checkDoc lacks " + old)
			}
			return strings.Replace(doc, old, new, 1)
		}
	}
	placeholder := "the example config's placeholder, which belongs to no fleet: pin your fleet's key (lockerctl keygen prints it)"
	cases := []struct {
		name  string
		doc   func(string) string // edits checkDoc
		setup func(t *testing.T, e checkEnv)
		// want is check's error, exactly ({state}, {run}, {tty} filled in); "" for none.
		want string
		// parse: the error is config.Load's, which run meets first too; else the
		// problem is the machine's (hostProblems), which --offline makes a warning.
		parse bool
		// refused: run refuses to start; else it starts and logs the problem.
		refused bool
		// pin: a GPIO line, which --offline does not look up (this host's registry
		// says nothing of the target's).
		pin bool
		// link: a cloud link file, which --offline does not read, and which run
		// logs as it starts offline (err=...).
		link bool
	}{
		{name: "good"},
		{name: "serial port does not exist", doc: replace("port: {tty}", "port: /dev/serial/by-id/usb-none-if00-port0"),
			want: "config: hardware.lockboards[0].port (line 13): /dev/serial/by-id/usb-none-if00-port0 does not exist: is the adapter plugged in? ls -l /dev/serial/by-id/ lists those that are"},
		{name: "serial port is a plain file", setup: func(t *testing.T, e checkEnv) {
			if err := os.Remove(e.tty); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(e.tty, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, want: "config: hardware.lockboards[0].port (line 13): {tty} is not a serial device (a character device such as /dev/ttyUSB0)"},
		{name: "relative port", doc: replace("port: {tty}", "port: ttyUSB0"), parse: true,
			want: `config: hardware.lockboards[0].port (line 13): "ttyUSB0" is not an absolute path: /dev/ttyUSB0, or better the adapter's /dev/serial/by-id/... link, which stays the same when adapters are replugged`},
		{name: "negative baud", doc: replace("protocol: cu16", "protocol: cu16\n      baud: -5"), parse: true,
			want: "config: hardware.lockboards[0].baud (line 15): must be a standard rate such as 9600 or 19200 (the boards' setting; cu16 boards ship at 19200), not -5"},
		{name: "non-standard baud", doc: replace("protocol: cu16", "protocol: cu16\n      baud: 12345"), parse: true,
			want: "config: hardware.lockboards[0].baud (line 15): must be a standard rate such as 9600 or 19200 (the boards' setting; cu16 boards ship at 19200), not 12345"},
		{name: "reply timeout shorter than a reply", doc: replace("protocol: cu16", "protocol: cu16\n      reply_timeout: 1ms"), parse: true,
			want: "config: hardware.lockboards[0].reply_timeout (line 15): 1ms is shorter than a 9-byte cu16 reply takes at 19200 baud (4.7ms) with the board's turnaround: at least 10ms (default 60ms)"},
		{name: "GPIO name with a letter O for the zero", doc: replace("relay: GPIO5", "relay: GPI05"), parse: true,
			want: `config: hardware.gpio_doors[0].doors[0].relay (line 20): "GPI05" is not a GPIO line name: did you mean GPIO5? (the letters G P I O, then the BCM number)`},
		{name: "GPIO line the board does not have", doc: replace("sensor: GPIO17", "sensor: GPIO99"), pin: true,
			want: "config: hardware.gpio_doors[0].doors[0].sensor (line 20): no GPIO line GPIO99 on this board: names are BCM numbers (GPIO2 to GPIO27 on a Raspberry Pi's 40-pin header), and gpioinfo lists the lines there are"},
		{name: "state directory open to others", setup: func(t *testing.T, e checkEnv) {
			if err := os.Mkdir(e.state, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(e.state, 0o755); err != nil { // past the umask
				t.Fatal(err)
			}
		}, refused: true,
			want: "config: state_dir (line 2): {state} is drwxr-xr-x: group and others must have no access, because it holds the station's keys; chmod 700 {state}"},
		{name: "state directory is a file", setup: func(t *testing.T, e checkEnv) {
			if err := os.WriteFile(e.state, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, refused: true, want: "config: state_dir (line 2): {state} is not a directory"},
		{name: "control socket directory missing", setup: func(t *testing.T, e checkEnv) {
			if err := os.Remove(e.run); err != nil {
				t.Fatal(err)
			}
		}, refused: true,
			want: "config: control.socket (line 9): directory {run} does not exist: the systemd unit creates /run/lockerd (RuntimeDirectory=lockerd); outside systemd create it first (install -d -m 0750 -o lockerd -g lockerd {run}) or leave control.socket out (then the socket is in state_dir)"},
		{name: "broker password file missing", link: true,
			doc: func(doc string) string {
				return doc + "mqtt:\n  broker: tcp://127.0.0.1:1\n  password_file: {run}/broker.pass\n"
			},
			want: "firmware: mqtt: mqtt.password_file: config: unusable secret file: open {run}/broker.pass: no such file or directory"},
		{name: "example's placeholder keys", parse: true,
			doc: func(doc string) string {
				return strings.NewReplacer("{x25519}", "af108f866cd33f60a564847ba4fde6a7e53bc41f0593b88b2bba948eac88741f",
					"{ed25519}", "ccb0b75de9c7cd9a9f5579de2264d685f9a2d23fe8944ac2f0e1aaade6193e21").Replace(doc)
			},
			want: "config: fleet.x25519_public (line 4): " + placeholder + "\nconfig: fleet.ed25519_public (line 5): " + placeholder},
		{name: "misspelt key", doc: replace("retention: 72h", "retenton: 72h"), parse: true,
			want: "config: policy.retenton (line 7): unknown key; did you mean retention?"},
		{name: "duration without a unit", doc: replace("retention: 72h", "retention: 72"), parse: true,
			want: "config: policy.retention (line 7): want a duration such as 72h, got 72"},
		{name: "tab", doc: replace("  retention: 72h", "\tretention: 72h"), parse: true,
			want: "config: line 7: a tab indents this line: YAML indents with spaces only"},
		{name: "unclosed brace", doc: replace("lock: 1}}\n  - {id: 2", "lock: 1}\n  - {id: 2"), parse: true,
			want: `config: line 22: the '{' opened on this line is not closed: a missing '}', or a missing ',' between two items`},
		{name: "missing locker_id", doc: replace("locker_id: LK-T1\n", ""), parse: true,
			want: "config: locker_id: required: the locker's id, such as LK-0001"},
		{name: "every problem at once", parse: true,
			doc: func(doc string) string {
				return strings.NewReplacer("retention: 72h", "retenton: 72h", "port: {tty}", "port: ttyUSB0",
					"size: M", "size: XM", "addr: 0", "addr: zero").Replace(doc)
			},
			want: "config: policy.retenton (line 7): unknown key; did you mean retention?\n" +
				"config: hardware.lockboards[0].boards[0].addr (line 16): want a whole number, got zero\n" +
				`config: hardware.lockboards[0].port (line 13): "ttyUSB0" is not an absolute path: /dev/ttyUSB0, or better the adapter's /dev/serial/by-id/... link, which stays the same when adapters are replugged` + "\n" +
				`config: compartments[1].size (line 23): must be S, M, L or XL, not "XM"`},
		{name: "duplicate key", doc: replace("  retention: 72h", "  retention: 72h\n  retention: 48h"), parse: true,
			want: "config: policy.retention (line 8): duplicate key (first on line 7)"},
		{name: "number in quotes", doc: replace("- addr: 0", "- addr: \"0\""), parse: true,
			want: `config: hardware.lockboards[0].boards[0].addr (line 16): want a whole number, got "0" in quotes, which make it text: leave the quotes out`},
		{name: "list for a value", doc: replace("locker_id: LK-T1", "locker_id: [LK, T1]"), parse: true,
			want: "config: locker_id (line 1): want a single value, got a list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bus := lockboardtest.Start(t, lockboardtest.Config{Protocol: lockboard.ProtocolCU16,
				Boards: []lockboardtest.BoardSpec{{Addr: 0}}, Logger: slog.New(slog.DiscardHandler)})
			e := checkEnv{state: filepath.Join(dir, "state"), run: filepath.Join(dir, "run"), tty: bus.Path()}
			if err := os.Mkdir(e.run, 0o750); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, e)
			}
			fill := strings.NewReplacer("{state}", e.state, "{run}", e.run, "{tty}", e.tty, "{x25519}", x25519, "{ed25519}", ed)
			doc := checkDoc
			if tc.doc != nil {
				doc = tc.doc(doc)
			}
			want := fill.Replace(tc.want)

			// check = config.Load (here Parse of the same bytes), then firmware.Check.
			cfg, err := config.Parse([]byte(fill.Replace(doc)))
			if tc.parse {
				if err == nil || err.Error() != want {
					t.Fatalf("config error:\n%v\nwant:\n%s", err, want)
				}
				return // run loads the config the same way, and stops there too
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = firmware.Check(cfg, slog.New(slog.DiscardHandler), firmware.CheckOptions{Pins: boardPins()})
			if got := errString(err); got != want {
				t.Fatalf("check:\n%s\nwant:\n%s", got, want)
			}
			warnings, err := firmware.Check(cfg, slog.New(slog.DiscardHandler), firmware.CheckOptions{Offline: true, Pins: boardPins()})
			wantOffline := want
			if tc.pin || tc.link {
				wantOffline = ""
			}
			if err != nil || errString(errors.Join(warnings...)) != wantOffline {
				t.Fatalf("check --offline: warnings %q, error %v; want the warnings %q", warnings, err, wantOffline)
			}

			log, runErr := runOnce(t, cfg)
			switch {
			case want == "":
				if runErr != nil {
					t.Fatalf("run refused a config check passed: %v", runErr)
				}
			case tc.refused:
				if runErr == nil || runErr.Error() != "firmware: not started:\n"+want {
					t.Fatalf("run: %v\nwant it refused with check's words:\n%s", runErr, want)
				}
			default:
				if runErr != nil {
					t.Fatalf("run: %v, want it to start with the driver failed", runErr)
				}
				logged := fmt.Sprintf("problem=%q", want)
				if tc.link {
					logged = fmt.Sprintf("msg=\"cloud link not started; serving offline until the mqtt section is fixed\" err=%q", want)
				}
				if !strings.Contains(log, logged) {
					t.Fatalf("run's log lacks check's words %q:\n%s", want, log)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// runOnce runs lockerd on cfg until it is ready, then stops it; it returns its log
// and Run's error.
func runOnce(t *testing.T, cfg *config.Config) (string, error) {
	t.Helper()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // Run sets the process's limit
	var buf testenv.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := firmware.Run(ctx, cfg, slog.New(slog.NewTextHandler(&buf, nil)), firmware.Options{
		Hardware: firmware.HardwareOptions{Pins: boardPins()}, Ready: cancel})
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("run never got ready:\n%s", buf.String())
	}
	return buf.String(), err
}

// TestCheckLooksPinsUpInPeriphRegistry: without CheckOptions.Pins, check asks periph's
// registry (gpioreg, after host.Init), and only where the host has GPIO lines: a
// laptop checking a locker's config says nothing of GPIO99.
func TestCheckLooksPinsUpInPeriphRegistry(t *testing.T) {
	doc := strings.NewReplacer("{state}", filepath.Join(t.TempDir(), "state"), "{run}", t.TempDir(),
		"port: {tty}", "port: /dev/null", "sensor: GPIO17", "sensor: GPIO99",
		"{x25519}", strings.Repeat("5a", 32),
		"{ed25519}", hex.EncodeToString(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey))).Replace(checkDoc)
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	const want = "config: hardware.gpio_doors[0].doors[0].sensor (line 20): no GPIO line GPIO99 on this board"
	if len(gpioreg.All()) == 0 {
		if _, err := firmware.Check(cfg, quiet, firmware.CheckOptions{}); err != nil {
			t.Fatalf("check on a host without GPIO lines: %v", err)
		}
	}
	for i, name := range []string{"GPIO5", "GPIO17"} {
		if gpioreg.ByName(name) != nil {
			continue
		}
		if err := gpioreg.Register(gpiotest.NewPin(name, 1000+i, gpio.Low)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gpioreg.Unregister(name) })
	}
	_, err = firmware.Check(cfg, quiet, firmware.CheckOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("check with GPIO5 and GPIO17 in periph's registry: %v\nwant %s...", err, want)
	}
}
