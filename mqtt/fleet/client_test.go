package fleet_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

func TestDoRoundTrip(t *testing.T) {
	f := fixture.New(t, fixture.Options{})
	f.Handler.Func = func(_ context.Context, cmd *protocol.Command) link.Result {
		switch b := cmd.Parsed.(type) {
		case *protocol.PingBody:
			return link.Done(protocol.PingResult{Time: time.Unix(1700000000, 0).UTC(), Boot: "b"})
		case *protocol.CancelBody:
			return link.Refused(protocol.ReasonNotFound, "no parcel "+b.Parcel)
		}
		return link.Result{Status: protocol.StatusFailed, Reason: protocol.ReasonNotSupported}
	}
	tests := []struct {
		name   string
		body   protocol.Body
		status protocol.Status
		reason protocol.Reason
	}{
		{name: "done with result", body: &protocol.PingBody{}, status: protocol.StatusDone},
		{name: "refused by the handler", body: &protocol.CancelBody{Parcel: "p-9"}, status: protocol.StatusRefused, reason: protocol.ReasonNotFound},
		{name: "failed", body: &protocol.InventoryBody{}, status: protocol.StatusFailed, reason: protocol.ReasonNotSupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testenv.Context(t, 20*time.Second)
			r, err := f.Cloud.Do(ctx, fixture.Locker, tc.body)
			if r == nil || r.Status != tc.status || r.Reason != tc.reason || r.Typ != tc.body.Type() {
				t.Fatalf("got %+v, %v", r, err)
			}
			if (err == nil) != (tc.status == protocol.StatusDone) || (err != nil && !fleet.IsStatus(err, tc.status)) {
				t.Fatalf("error %v for status %s", err, r.Status)
			}
			if tc.status == protocol.StatusDone {
				res, err := protocol.DecodeResult(r.Typ, r.Body)
				if err != nil || res.(*protocol.PingResult).Boot != "b" {
					t.Fatalf("result %v, %v", res, err)
				}
			}
		})
	}
}

// TestSendIgnoresRepliesForOtherBytes: a forged command that reuses a
// genuine id provokes a refusal with that id; the cloud must not take it
// for the answer to the genuine command.
func TestSendIgnoresRepliesForOtherBytes(t *testing.T) {
	release := make(chan struct{})
	f := fixture.New(t, fixture.Options{})
	f.Handler.Func = func(ctx context.Context, _ *protocol.Command) link.Result {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return link.Done(nil)
	}
	cmd, err := f.Cloud.NewCommand(fixture.Locker, &protocol.RecallBody{Parcel: "p-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 20*time.Second)
	accepted := make(chan struct{})
	type result struct {
		r   *protocol.Reply
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := f.Cloud.Send(ctx, cmd, func(*protocol.Reply) { close(accepted) })
		done <- result{r, err}
	}()
	select {
	case <-accepted:
	case <-ctx.Done():
		t.Fatal("no accepted reply")
	}
	// An attacker on the broker sends a token with the same id and a bad
	// signature; the link refuses it, echoing the id.
	forged := append([]byte(nil), cmd.Token...)
	forged[len(forged)-2] ^= 1
	fixture.Publish(t, f.Raw(t, "cloud", nil), f.Topics.Command(fixture.Locker), forged)
	close(release)
	res := <-done
	if res.err != nil || res.r.Status != protocol.StatusDone || res.r.Ref != cmd.Ref {
		t.Fatalf("Send = %+v, %v", res.r, res.err)
	}
}

// TestSendResendsUntilTheLockerAnswers: the locker comes online only after
// the command was first published (and lost); the cloud re-sends the same
// bytes, and the locker executes it once.
func TestSendResendsUntilTheLockerAnswers(t *testing.T) {
	f := fixture.New(t, fixture.Options{NoLink: true, Cloud: func(c *fleet.Config) { c.ResendAfter = 300 * time.Millisecond }})
	cmd, err := f.Cloud.NewCommand(fixture.Locker, &protocol.PingBody{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 20*time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := f.Cloud.Send(ctx, cmd, nil)
		done <- err
	}()
	f.StartLink(t, nil)
	if err := <-done; err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n := f.Handler.Count(); n != 1 {
		t.Fatalf("handler ran %d times", n)
	}
}

func TestSendGivesUp(t *testing.T) {
	f := fixture.New(t, fixture.Options{NoLink: true, Cloud: func(c *fleet.Config) { c.ResendAfter = 100 * time.Millisecond }})
	tests := []struct {
		name string
		ttl  time.Duration
		ctx  time.Duration
		want error
	}{
		{name: "expiry", ttl: time.Second, ctx: 20 * time.Second, want: fleet.ErrExpired},
		{name: "context", ttl: time.Hour, ctx: 300 * time.Millisecond, want: fleet.ErrNoReply},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := f.Cloud.NewCommandAt(fixture.Locker, "c-"+tc.name, &protocol.PingBody{}, time.Now(), tc.ttl)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctx)
			defer cancel()
			if _, err := f.Cloud.Send(ctx, cmd, nil); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPresenceAndEvents(t *testing.T) {
	f := fixture.New(t, fixture.Options{NoLink: true})
	stop := f.StartLink(t, func(c *link.Config) { c.Boot = "first-boot" })
	p, ok := f.Cloud.Presence(fixture.Locker)
	if !ok || p.State != protocol.Online || p.Boot != "first-boot" || p.Version != "test-1.0" {
		t.Fatalf("presence %+v", p)
	}
	now := time.Now()
	for i := range 3 {
		if _, err := f.Outbox.Add(protocol.EvDoorClosed, now, &protocol.DoorEvent{Compartment: uint16(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := testenv.Context(t, 20*time.Second)
	for i := range 3 {
		ev, err := f.Cloud.NextEvent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.LockerID != fixture.Locker || ev.Seq != uint64(i+1) || ev.Body.(*protocol.DoorEvent).Compartment != uint16(i+1) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	stop()
	if _, err := f.Cloud.AwaitPresence(ctx, fixture.Locker, func(p protocol.Presence) bool {
		return p.State == protocol.Offline && p.Reason == protocol.PresenceShutdown && p.Boot == "first-boot"
	}); err != nil {
		t.Fatalf("no offline presence after shutdown: %v", err)
	}
}
