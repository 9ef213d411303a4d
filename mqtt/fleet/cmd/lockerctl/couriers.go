package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lockerd/lockerd/internal/cli"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Couriers (docs/adr/0049-nothing-linkable-at-rest.md). A courier's badge carries a
// token of 130 bits that courier-new makes; the locker receives only the token's
// digest and the verifier of token and PIN. The same badge serves several lockers:
// courier-new makes it for the first, courier-upsert (the token on standard input)
// adds it to the others.

// courierNewCommand makes a badge token, stores the courier with it and the PIN read
// from standard input, and prints the token once, as the badge QR code's text.
func courierNewCommand(withEnv withEnvFunc) *cobra.Command {
	var rights string
	c := &cobra.Command{
		Use:   "courier-new LOCKER COURIER",
		Short: "Make a courier's badge and store the courier (PIN on standard input)",
		Long: `Make a badge token for a courier, store the courier on the locker with it and the
PIN read from standard input (4-12 digits), and print the token once, as the badge QR
code's text (LKB:...). lockerctl keeps no copy: a lost badge is replaced by another
courier-new. The same badge serves other lockers through courier-upsert.`,
		Args: cli.Args(cobra.ExactArgs(2)),
		RunE: withEnv(func(e *env, pos []string) error {
			rs, err := parseRights(rights)
			if err != nil {
				return err
			}
			lines, err := e.secretLines(1, "the PIN")
			if err != nil {
				return err
			}
			token := fleet.NewBadgeToken()
			body, err := courierBody(e, pos, rs, token, lines[0])
			if err != nil {
				return err
			}
			err = e.do(pos[0], body)
			if err == nil || errors.Is(err, errUnknown) {
				// Printed once, here, and nowhere else: lockerctl keeps no copy. Lost, the
				// badge is replaced by another courier-new.
				if perr := e.print(map[string]string{"courier": pos[1], "badge_qr": "LKB:" + token}); perr != nil {
					return perr
				}
			}
			return err
		}),
	}
	rightsFlag(c, &rights)
	return c
}

// courierUpsertCommand stores a courier with an existing badge token and PIN, both
// read from standard input.
func courierUpsertCommand(withEnv withEnvFunc) *cobra.Command {
	var rights string
	c := &cobra.Command{
		Use:   "courier-upsert LOCKER COURIER",
		Short: "Store a courier with an existing badge (token, then PIN, on standard input)",
		Args:  cli.Args(cobra.ExactArgs(2)),
		RunE: withEnv(func(e *env, pos []string) error {
			rs, err := parseRights(rights)
			if err != nil {
				return err
			}
			lines, err := e.secretLines(2, "the badge token and the PIN, one per line")
			if err != nil {
				return err
			}
			body, err := courierBody(e, pos, rs, strings.TrimPrefix(lines[0], "LKB:"), lines[1])
			if err != nil {
				return err
			}
			return e.do(pos[0], body)
		}),
	}
	rightsFlag(c, &rights)
	return c
}

func rightsFlag(c *cobra.Command, rights *string) {
	c.Flags().StringVar(rights, "rights", string(protocol.RightDeposit), "comma-separated: deposit, retrieve")
}

func parseRights(rights string) ([]protocol.Right, error) {
	var rs []protocol.Right
	for _, s := range strings.Split(rights, ",") {
		r, err := protocol.ParseRight(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// courierBody digests a badge token and PIN for courier-upsert. What a locker can ever
// match: a token of privacy.MinBadgeLen to MaxBadgeLen printable characters, as the
// badge QR carries it after its "LKB:" prefix; a PIN of 4-12 digits (the keypad keeps
// no more). Anything else would be stored, and every login would fail.
func courierBody(e *env, pos []string, rs []protocol.Right, token, pin string) (*protocol.CourierUpsertBody, error) {
	if privacy.CheckPIN(pin) != nil {
		return nil, fmt.Errorf("%w: %s: want a PIN of 4-12 digits", errUsage, pos[1])
	}
	if privacy.CheckBadge(token) != nil {
		return nil, fmt.Errorf("%w: %s: want a badge token of %d-%d printable characters, without its LKB: prefix (make one with courier-new)",
			errUsage, pos[1], privacy.MinBadgeLen, privacy.MaxBadgeLen)
	}
	keys, err := e.cfg.keys(pos[0])
	if err != nil {
		return nil, err
	}
	badge, verifier, err := keys.Courier(token, pin)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return &protocol.CourierUpsertBody{Courier: pos[1], Badge: badge, Verifier: verifier, Rights: rs}, nil
}
