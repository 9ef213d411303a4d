package main

import (
	"flag"
	"fmt"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// clearThrottle asks a locker to clear a lock-out (ADR 0046): the courier one, or for
// code the legacy-code one and the guessing alarm's count. The locker audits the
// operator and emits throttle_cleared.
func clearThrottle(e *env, args []string) error {
	fs := flag.NewFlagSet("clear-throttle", flag.ContinueOnError)
	operator := fs.String("operator", "", "your operator id (audited on the locker)")
	const usage = "clear-throttle LOCKER code|courier -operator ID"
	pos, err := parseArgs(fs, args, 2, usage)
	if err != nil {
		return err
	}
	src, err := protocol.ParseThrottleSource(pos[1])
	if err != nil || (src != protocol.ThrottleCode && src != protocol.ThrottleCourier) {
		return fmt.Errorf("%w: the source is code or courier; %s", errUsage, usage)
	}
	return e.do(pos[0], &protocol.ClearThrottleBody{Source: src, Operator: *operator})
}
