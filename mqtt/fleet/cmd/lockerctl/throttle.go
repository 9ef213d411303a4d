package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lockerd/lockerd/internal/cli"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// clearThrottleCommand asks a locker to clear a lock-out (ADR 0046): the courier one,
// or for code the legacy-code one and the guessing alarm's count. The locker audits
// the operator and emits throttle_cleared.
func clearThrottleCommand(withEnv withEnvFunc) *cobra.Command {
	var operator string
	c := &cobra.Command{
		Use:       "clear-throttle LOCKER code|courier --operator ID",
		Short:     "Clear a locker's code or courier lock-out (audited)",
		Args:      cli.Args(cobra.ExactArgs(2)),
		ValidArgs: []string{"code", "courier"},
		RunE: withEnv(func(e *env, pos []string) error {
			src, err := protocol.ParseThrottleSource(pos[1])
			if err != nil || (src != protocol.ThrottleCode && src != protocol.ThrottleCourier) {
				return fmt.Errorf("%w: the source is code or courier", errUsage)
			}
			return e.do(pos[0], &protocol.ClearThrottleBody{Source: src, Operator: operator})
		}),
	}
	operatorFlag(c, &operator)
	return c
}
