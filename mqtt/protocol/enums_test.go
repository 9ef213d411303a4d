package protocol

import (
	"errors"
	"testing"
)

// TestEnumsRoundTrip checks every enumeration the same way: each listed
// value parses to itself and is valid, values are unique, and a value that
// differs only in case is refused.
func TestEnumsRoundTrip(t *testing.T) {
	type enumCase struct {
		name   string
		values []string
		parse  func(string) (string, error)
	}
	tests := []enumCase{
		{name: "command type", values: toStrings(CommandTypes()), parse: wrap(ParseCommandType)},
		{name: "status", values: toStrings(Statuses()), parse: wrap(ParseStatus)},
		{name: "reason", values: toStrings(Reasons()), parse: wrap(ParseReason)},
		{name: "event type", values: toStrings(EventTypes()), parse: wrap(ParseEventType)},
		{name: "size", values: toStrings(Sizes()), parse: wrap(ParseSize)},
		{name: "right", values: toStrings(Rights()), parse: wrap(ParseRight)},
		{name: "open reason", values: toStrings(OpenReasons()), parse: wrap(ParseOpenReason)},
		{name: "door op", values: toStrings(DoorOps()), parse: wrap(ParseDoorOp)},
		{name: "health", values: toStrings(Healths()), parse: wrap(ParseHealth)},
		{name: "throttle source", values: toStrings(ThrottleSources()), parse: wrap(ParseThrottleSource)},
		{name: "presence state", values: toStrings(PresenceStates()), parse: wrap(ParsePresenceState)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.values) == 0 {
				t.Fatal("no values")
			}
			seen := map[string]bool{}
			for _, v := range tc.values {
				if seen[v] {
					t.Fatalf("value %q listed twice", v)
				}
				seen[v] = true
				got, err := tc.parse(v)
				if err != nil || got != v {
					t.Fatalf("parse(%q) = %q, %v", v, got, err)
				}
				if _, err := tc.parse(v + "x"); !errors.Is(err, ErrSchema) {
					t.Fatalf("parse(%q): got %v, want ErrSchema", v+"x", err)
				}
			}
			if _, err := tc.parse(""); err == nil {
				t.Fatal("empty value accepted")
			}
		})
	}
}

// TestStableValues pins the wire spelling of values that devices store, so
// a rename shows up as a failing test rather than as a silent protocol break.
func TestStableValues(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "outcome unknown", got: string(StatusUnknown), want: "unknown"},
		{name: "accepted", got: string(StatusAccepted), want: "accepted"},
		{name: "set-verifier", got: string(CmdSetVerifier), want: "set-verifier"},
		{name: "open-compartment", got: string(CmdOpenCompartment), want: "open-compartment"},
		{name: "picked_up", got: string(EvPickedUp), want: "picked_up"},
		{name: "left_open", got: string(EvLeftOpen), want: "left_open"},
		{name: "interrupted", got: string(ReasonInterrupted), want: "interrupted"},
		{name: "XL", got: string(SizeXL), want: "XL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
	if !StatusUnknown.Final() || StatusAccepted.Final() || Status("x").Final() {
		t.Fatal("Final is wrong")
	}
}

func toStrings[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func wrap[T ~string](parse func(string) (T, error)) func(string) (string, error) {
	return func(s string) (string, error) {
		v, err := parse(s)
		return string(v), err
	}
}
