package mqtttest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// reply encodes one reply to command id.
func reply(t *testing.T, id string, status protocol.Status, reason protocol.Reason) []byte {
	t.Helper()
	raw, err := protocol.EncodeReply(&protocol.Reply{ID: id, Ref: protocol.CommandRef([]byte(id)), Status: status,
		Reason: reason, Time: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestFinalReplies: a round ends when each of its commands has a done reply, counted
// by id; stale, repeated and accepted replies do not end it early, and any other final
// reply fails it.
func TestFinalReplies(t *testing.T) {
	done := func(id string) func(*testing.T) []byte {
		return func(t *testing.T) []byte { return reply(t, id, protocol.StatusDone, "") }
	}
	cases := []struct {
		name     string
		messages []func(*testing.T) []byte
		complete bool   // the round is over
		fails    string // Wait's error contains it
		other    int
	}{
		{name: "a done reply for each command", messages: []func(*testing.T) []byte{done("a"), done("b")}, complete: true},
		{name: "an array of replies counts each", complete: true, messages: []func(*testing.T) []byte{func(t *testing.T) []byte {
			return protocol.JoinReplies([][]byte{reply(t, "a", protocol.StatusDone, ""), reply(t, "b", protocol.StatusDone, "")})
		}}},
		{name: "stale and repeated replies do not count", messages: []func(*testing.T) []byte{done("old-1"), done("a"), done("a")}, other: 2},
		{name: "accepted is not final", messages: []func(*testing.T) []byte{done("a"), func(t *testing.T) []byte {
			return reply(t, "b", protocol.StatusAccepted, "")
		}}},
		{name: "a refusal fails the round", fails: "refused", messages: []func(*testing.T) []byte{func(t *testing.T) []byte {
			return reply(t, "a", protocol.StatusRefused, protocol.ReasonBadSignature)
		}}},
		{name: "a partial announcement fails the round", fails: "partial", messages: []func(*testing.T) []byte{func(t *testing.T) []byte {
			return reply(t, "a", protocol.StatusDone, protocol.ReasonPartial)
		}}},
		{name: "an undecodable message fails the round", fails: "undecodable", messages: []func(*testing.T) []byte{
			func(*testing.T) []byte { return []byte(`{"status":"done"}`) }}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFinalReplies()
			f.Expect([]string{"a", "b"})
			for _, m := range tc.messages {
				f.Handle(m(t))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := f.Wait(ctx)
			switch {
			case tc.fails != "":
				if err == nil || !strings.Contains(err.Error(), tc.fails) {
					t.Fatalf("Wait = %v, want an error naming %q", err, tc.fails)
				}
			case tc.complete:
				if err != nil {
					t.Fatalf("Wait = %v, want the round over", err)
				}
			default:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Wait = %v, want the round still waiting", err)
				}
			}
			if got := f.Other(); got != tc.other {
				t.Errorf("Other = %d, want %d", got, tc.other)
			}
		})
	}
}

// TestPlainSubscriberReceive times n messages through a real broker and mosquitto_sub,
// from the marker on.
func TestPlainSubscriberReceive(t *testing.T) {
	b := Start(t, Options{Users: users()})
	sub := Tool(t, "mosquitto_sub")
	cloud := MustConnect(t, b.URL(), "cloud", "pc", nil)
	const topic, n = "lockers/L-B/cmd", 50
	s := PlainSubscriber{Path: sub, Args: []string{"-h", "127.0.0.1", "-p", strconv.Itoa(b.Port()), "-u", "L-B", "-P", "pb",
		"-q", "1", "-c", "-i", "plain-test", "-t", topic}}
	marked := false
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for round := range 2 { // the second round reuses the persistent session
		d, err := s.Receive(ctx, n, func() error {
			marked = true
			publish(t, cloud, topic)
			return nil
		}, func() error {
			if !marked {
				return errors.New("publish before the mark")
			}
			for range n {
				publish(t, cloud, topic)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if d <= 0 {
			t.Fatalf("round %d: %v for %d messages", round, d, n)
		}
		marked = false
	}
	// Fewer messages than awaited: Receive ends with the context, with an error.
	short, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := s.Receive(short, n, func() error { publish(t, cloud, topic); return nil }, func() error {
		publish(t, cloud, topic)
		return nil
	})
	if err == nil {
		t.Fatal("Receive of 1 message out of 50 succeeded")
	}
}
