// Command lockerctl is the operator's tool for a fleet of lockers: it signs commands
// with the fleet key, sends them over MQTT through mqtt/fleet and prints the lockers'
// replies, events and presence as JSON lines.
//
//	lockerctl [-config FILE] keygen DIR
//	lockerctl [-config FILE] ping|status|inventory LOCKER
//	lockerctl [-config FILE] audit LOCKER [-from N] [-to N] [-limit N]
//	lockerctl [-config FILE] open LOCKER COMPARTMENT -operator ID [-reason support|maintenance|inspection|retrieval|other]
//	lockerctl [-config FILE] disable|enable LOCKER COMPARTMENT -operator ID
//	lockerctl [-config FILE] resolve LOCKER COMPARTMENT -present|-absent -operator ID
//	lockerctl [-config FILE] cancel|recall LOCKER PARCEL
//	lockerctl [-config FILE] announce LOCKER FILE.csv|-  (parcel,tracking,code,phone,size[,qr][,expires])
//	lockerctl [-config FILE] set-code LOCKER PARCEL       (the code, then the phone's last four digits, on standard input)
//	lockerctl [-config FILE] courier-new LOCKER COURIER -rights deposit[,retrieve]
//	                                                      (PIN on standard input; prints the new badge token once)
//	lockerctl [-config FILE] clear-throttle LOCKER code|courier -operator ID
//	lockerctl [-config FILE] courier-upsert LOCKER COURIER -rights deposit[,retrieve]
//	                                                      (badge token, then PIN, on standard input)
//	lockerctl [-config FILE] courier-revoke LOCKER COURIER
//	lockerctl [-config FILE] send LOCKER TYPE FILE.json|- (any command, body as JSON)
//	lockerctl [-config FILE] events [-n N] [-for DURATION] [LOCKER ...]
//	lockerctl [-config FILE] presence LOCKER
//
// The configuration file (-config, YAML; relative paths are relative to it):
//
//	broker: ssl://broker.example.net:8883   # or tcp://host:1883 with username and password_file
//	topic_prefix: lockers                   # as the lockers' mqtt.topic_prefix
//	tls: {ca: ca.pem, cert: operator.pem, key: operator.key}
//	signing_key: fleet.pem                  # Ed25519, PKCS#8 PEM (keygen, or openssl genpkey -algorithm ed25519)
//	x25519_key: fleet-x25519.pem            # X25519, PKCS#8 PEM; for announce, set-code, courier-new, courier-upsert,
//	                                        # and to verify the pinned lockers' events and replies (unpinned: dropped)
//	lockers:                                # x25519_public of each locker, from `lockerd identity` at installation
//	  LK-0001: 9e6bcec48a0678a39aa5b89eec88a11aafe6dc47b2d4538664e5b4f7f00c7e12
//	lockers_file: pins.yaml                 # optional: more pins in the same form, kept apart
//	timeout: 30s                            # how long to wait for a final reply
//
// Tracking numbers, codes, badge tokens and PINs are read from files or standard
// input, never from the command line (where other users and shell histories see
// them), and leave lockerctl only as keyed digests. Exit status: 0 when the locker
// answered done, 1 when it refused or failed or lockerctl could not ask, 2 for a
// usage error or bad input (then nothing was sent), 3 when a command was sent and not
// answered in time: its outcome is unknown, and it may still run until it expires (the
// message names it); send a new one only once that is understood.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks an error in how lockerctl was called (nothing was sent); errUnknown a
// command sent and not answered in time (its outcome is unknown).
var (
	errUsage   = errors.New("usage")
	errUnknown = errors.New("outcome unknown")
)

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdin, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "lockerctl:", err)
		return 2
	case errors.Is(err, errUnknown):
		fmt.Fprintln(stderr, "lockerctl:", err)
		return 3
	default:
		fmt.Fprintln(stderr, "lockerctl:", err)
		return 1
	}
}
