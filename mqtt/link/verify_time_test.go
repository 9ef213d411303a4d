package link

import (
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// The time command is the one exception to the clock checks (docs/protocol.md §3.2):
// a device clock a year ahead or in 1970 still takes it, while every other type with
// the same times is refused; its lifetime, audience and signature are still checked.
func TestVerifierTimeCommandIgnoresTheClock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		device time.Time
	}{
		{"device a year ahead", testNow.Add(365 * 24 * time.Hour)},
		{"device in 1970", time.Unix(3600, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := testVerifier()
			cmd, refusal := v.check(sign(t, fleetKey, claimsJSON("L1", "time", `{}`, 0, 5*time.Minute)), tc.device)
			if refusal != nil || cmd.Typ != protocol.CmdTime {
				t.Fatalf("time command refused: %+v", refusal)
			}
			_, refusal = v.check(sign(t, fleetKey, claimsJSON("L1", "ping", `{}`, 0, 5*time.Minute)), tc.device)
			if refusal == nil || (refusal.Reason != protocol.ReasonExpired && refusal.Reason != protocol.ReasonNotYetValid) {
				t.Fatalf("a ping with the same times: %+v, want expired or not_yet_valid", refusal)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		claims string
		reason protocol.Reason
	}{
		{"over the lifetime", claimsJSON("L1", "time", `{}`, 0, 2*time.Hour), protocol.ReasonLifetime},
		{"another locker", claimsJSON("L2", "time", `{}`, 0, time.Minute), protocol.ReasonBadAudience},
		{"with a body", claimsJSON("L1", "time", `{"at":1}`, 0, time.Minute), protocol.ReasonSchema},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, refusal := testVerifier().check(sign(t, fleetKey, tc.claims), testNow.Add(365*24*time.Hour))
			if refusal == nil || refusal.Reason != tc.reason {
				t.Fatalf("%+v, want %s", refusal, tc.reason)
			}
		})
	}
	_, refusal := testVerifier().check(sign(t, otherKey, claimsJSON("L1", "time", `{}`, 0, time.Minute)), testNow)
	if refusal == nil || refusal.Reason != protocol.ReasonBadSignature {
		t.Fatalf("unsigned by the fleet: %+v", refusal)
	}
}
