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

// eraseSubjectCommand asks a locker, or every locker of --lockers FILE, to erase a
// courier or operator from its audit log's reach (ADR 0065): the keys of the subject's
// pseudonyms are destroyed.
func eraseSubjectCommand(withEnv withEnvFunc) *cobra.Command {
	var operator, file string
	var parallel int
	c := &cobra.Command{
		Use:   "erase-subject LOCKER SUBJECT --operator ID | erase-subject SUBJECT --lockers FILE --operator ID",
		Short: "Erase a courier or operator from a locker's audit log (its pseudonyms' keys are destroyed; audited)",
		Long: `Erase a data subject — a courier's or an operator's id — from a locker's audit log.

The audit log names couriers and operators by keyed pseudonyms. This destroys the
keys of SUBJECT's pseudonyms on the locker: its entries stay (the audit chain still
verifies) but can no longer be linked to SUBJECT by anyone, the locker included.
The reply says how many keys were destroyed (0: the locker had recorded nothing of
SUBJECT). With --lockers FILE every locker listed gets the command (every locker the
person worked at). The cloud's own records are not touched.`,
		Args: cli.Args(cobra.RangeArgs(1, 2)),
		RunE: withEnv(func(e *env, pos []string) error {
			if (file == "") != (len(pos) == 2) {
				return fmt.Errorf("%w: erase-subject LOCKER SUBJECT, or erase-subject SUBJECT --lockers FILE", errUsage)
			}
			subject := pos[len(pos)-1]
			body := func() protocol.Body { return &protocol.EraseSubjectBody{Subject: subject, Operator: operator} }
			if file != "" {
				return e.many(file, parallel, body)
			}
			return e.do(pos[0], body())
		}),
	}
	operatorFlag(c, &operator)
	lockersFlag(c, &file, &parallel)
	return c
}
