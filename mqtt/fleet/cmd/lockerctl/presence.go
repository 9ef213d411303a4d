package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// presenceGrace is how long a command waits for its locker's retained presence before
// calling the locker unknown. The broker sends retained presences right after the
// subscription that Dial waits for, so a known locker's is there at once; the grace
// covers a broker busy sending a whole fleet's.
const presenceGrace = 500 * time.Millisecond

// errNotSent marks a command not sent because its locker is unknown or offline;
// errNeverConnected (which is errNotSent too) the unknown locker.
var (
	errNotSent        = errors.New("not sent")
	errNeverConnected = fmt.Errorf("%w", errNotSent)
)

// checkPresence refuses, at once and before anything is sent, a command to a locker
// that never connected (no retained presence) or is offline, unless --wait asked to
// send to an offline one anyway (the broker queues it in the locker's session).
func (e *env) checkPresence(c *fleet.Client, locker string) error {
	// The grace runs from the connection, not from each command: to many lockers, the
	// retained presences have all come once it has passed, and an unknown locker is
	// known as such without a wait of its own.
	ctx, cancel := context.WithTimeout(e.ctx, presenceGrace-time.Since(e.connectedAt))
	defer cancel()
	p, err := c.AwaitPresence(ctx, locker, func(protocol.Presence) bool { return true })
	if err != nil {
		if e.ctx.Err() != nil {
			return e.ctx.Err()
		}
		return unknownLocker(locker, e.cfg.Prefix)
	}
	if p.State != protocol.Offline {
		return nil
	}
	if e.wait {
		fmt.Fprintf(e.stderr, "lockerctl: %s; sent anyway (--wait): the broker holds it until the locker connects\n", offlineSince(locker, p))
		return nil
	}
	return fmt.Errorf("%w: %s; --wait sends anyway (the broker queues the command until the locker connects, within its lifetime)", errNotSent, offlineSince(locker, p))
}

func unknownLocker(locker, prefix string) error {
	return fmt.Errorf("%w: unknown locker %s: it has never connected (no presence retained on %s/%s/status: check the id and topic_prefix)",
		errNeverConnected, locker, prefix, locker)
}

// offlineSince says since when a locker is offline. The broker's Last Will carries no
// time (it is written at connect time): then it says the connection was lost.
func offlineSince(locker string, p protocol.Presence) string {
	switch {
	case !p.Time.IsZero():
		why := ""
		if p.Reason == protocol.PresenceShutdown {
			why = " (it shut down)"
		}
		return fmt.Sprintf("%s is offline since %s%s", locker, p.Time.UTC().Format(time.RFC3339), why)
	case p.Reason == protocol.PresenceLost:
		return fmt.Sprintf("%s is offline: its connection was lost (the broker's last will, which carries no time)", locker)
	}
	return fmt.Sprintf("%s is offline", locker)
}

// brokerDown says that lockerctl could not reach the broker: which URLs it tried and
// why, or that the broker refused its credentials (not the same fix).
func brokerDown(urls []string, err error) error {
	for _, refused := range []error{packets.ErrorRefusedBadUsernameOrPassword, packets.ErrorRefusedNotAuthorised,
		packets.ErrorRefusedIDRejected, packets.ErrorRefusedBadProtocolVersion} {
		if errors.Is(err, refused) {
			return fmt.Errorf("the broker (%s) refused the connection: %v", strings.Join(urls, ", "), refused)
		}
	}
	// fleet.Dial's error names only the first URL: name them all, with the cause.
	cause := err
	if u := errors.Unwrap(err); u != nil {
		cause = u
	}
	return fmt.Errorf("the broker is down or unreachable (%s): %v", strings.Join(urls, ", "), cause)
}
