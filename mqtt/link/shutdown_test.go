package link_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/linktest"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestStopAnswersEveryQueuedCommand: commands queued when the link stops are refused
// "shutting_down", each answered exactly once, after those that ran: none is dropped
// without an answer, and no handler is called once the link is stopping (its context
// is done: a door would not open).
func TestStopAnswersEveryQueuedCommand(t *testing.T) {
	f := fixture.New(t, fixture.Options{NoLink: true})
	h := &linktest.AtomicHandler{Handler: f.Handler, Log: f.Log, Types: []protocol.CommandType{protocol.CmdPing}}
	var late atomic.Int32
	f.Handler.Func = func(ctx context.Context, cmd *protocol.Command) link.Result {
		if cmd.Typ == protocol.CmdStatus {
			<-ctx.Done() // holds the worker until the link stops
			return link.Done(nil)
		}
		if ctx.Err() != nil {
			late.Add(1)
		}
		return link.Done(nil)
	}
	cfg := f.LinkConfig(func(c *link.Config) { c.Handler = h })
	l, err := link.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := linktest.Start(t, l)
	ctx := testenv.Context(t, 30*time.Second)
	if _, err := f.Cloud.AwaitPresence(ctx, fixture.Locker, func(p protocol.Presence) bool {
		return p.State == protocol.Online && p.Boot == cfg.Boot
	}); err != nil {
		t.Fatal(err)
	}
	replies := f.Replies(t)
	raw := f.Raw(t, "cloud", nil)
	now := time.Now()
	const n = 400 // more than the verifier holds (3 batches of 64), so some stay queued
	ids := make([]string, n)
	for i := range n {
		var body protocol.Body = &protocol.PingBody{}
		if i == 0 {
			body = &protocol.StatusBody{}
		}
		cmd, err := fleet.Sign(fixture.FleetKey, "", fixture.Locker, fmt.Sprintf("q-%03d", i), body, now, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		raw.Publish(f.Topics.Command(fixture.Locker), 1, false, cmd.Token)
		ids[i] = cmd.ID
	}
	testenv.Eventually(t, 10*time.Second, "every command received", func() bool { return l.Stats().Received == n })
	stop()

	final := map[string]protocol.Status{}
	for len(final) < n {
		r := fixture.NextReply(t, replies)
		if !r.Status.Final() {
			continue
		}
		if _, dup := final[r.ID]; dup {
			t.Fatalf("%s answered twice", r.ID)
		}
		if r.Status == protocol.StatusRefused && r.Reason != protocol.ReasonShuttingDown {
			t.Fatalf("%s refused %s", r.ID, r.Reason)
		}
		final[r.ID] = r.Status
	}
	executed, refusedFrom := 0, -1
	for i, id := range ids {
		switch st := final[id]; {
		case st == protocol.StatusDone && refusedFrom < 0:
			executed++
		case st == protocol.StatusRefused:
			if refusedFrom < 0 {
				refusedFrom = i
			}
		default:
			t.Fatalf("%s (#%d) is %s after the refusals began at #%d", id, i, st, refusedFrom)
		}
	}
	if executed < 1 || refusedFrom < 0 {
		t.Fatalf("%d executed, refusals from #%d: want both kinds", executed, refusedFrom)
	}
	if n := late.Load(); n > 0 {
		t.Fatalf("%d commands ran with the link's context done", n)
	}
	if got := h.Count(); got != executed {
		t.Fatalf("handler ran %d commands, %d answered done", got, executed)
	}
	t.Logf("%d executed, %d refused shutting_down", executed, n-executed)
}

// TestCommandExpiredWhileQueuedIsRefused: a command that was valid when it arrived but
// expired while it waited behind a slow one is refused "expired", not run: the cloud
// may already have sent a new one.
func TestCommandExpiredWhileQueuedIsRefused(t *testing.T) {
	f := fixture.New(t, fixture.Options{})
	release := make(chan struct{})
	f.Handler.Func = holdStatus(release)
	replies := f.Replies(t)
	raw := f.Raw(t, "cloud", nil)
	now := time.Now()
	slow, err := fleet.Sign(fixture.FleetKey, "", fixture.Locker, "slow", &protocol.StatusBody{}, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	short, err := fleet.Sign(fixture.FleetKey, "", fixture.Locker, "short", &protocol.CourierRevokeBody{Courier: "c-1"}, now, now.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fixture.Publish(t, raw, f.Topics.Command(fixture.Locker), slow.Token)
	fixture.Publish(t, raw, f.Topics.Command(fixture.Locker), short.Token)
	time.Sleep(time.Until(short.Expires) + 500*time.Millisecond)
	close(release)
	for {
		r := fixture.NextReply(t, replies)
		if r.ID != "short" {
			continue
		}
		if r.Status != protocol.StatusRefused || r.Reason != protocol.ReasonExpired {
			t.Fatalf("reply %+v, want refused expired", r)
		}
		break
	}
	for _, c := range f.Handler.Seen() {
		if c.Jti == "short" {
			t.Fatal("the expired command ran")
		}
	}
}

// TestResendExpiredWhileQueuedAnsweredFromLog: a re-send of a command that already ran,
// which expired while it queued behind a slow one, is answered with the stored
// outcome, not "expired" (which would tell the cloud it never ran).
func TestResendExpiredWhileQueuedAnsweredFromLog(t *testing.T) {
	f := fixture.New(t, fixture.Options{})
	release := make(chan struct{})
	f.Handler.Func = holdStatus(release)
	replies := f.Replies(t)
	raw := f.Raw(t, "cloud", nil)
	now := time.Now()
	short, err := fleet.Sign(fixture.FleetKey, "", fixture.Locker, "short", &protocol.CourierRevokeBody{Courier: "c-1"}, now, now.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := fleet.Sign(fixture.FleetKey, "", fixture.Locker, "slow", &protocol.StatusBody{}, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	fixture.Publish(t, raw, f.Topics.Command(fixture.Locker), short.Token)
	for done := false; !done; { // the first run's final reply
		r := fixture.NextReply(t, replies)
		done = r.ID == "short" && r.Status.Final()
	}
	fixture.Publish(t, raw, f.Topics.Command(fixture.Locker), slow.Token)
	fixture.Publish(t, raw, f.Topics.Command(fixture.Locker), short.Token) // the re-send
	time.Sleep(time.Until(short.Expires) + 500*time.Millisecond)
	close(release)
	for {
		r := fixture.NextReply(t, replies)
		if r.ID != "short" {
			continue
		}
		if r.Status != protocol.StatusDone {
			t.Fatalf("re-send answered %s/%s, want the stored done", r.Status, r.Reason)
		}
		break
	}
	if n := f.Handler.Count(); n != 2 { // short once, slow once
		t.Fatalf("handler ran %d times", n)
	}
}
