package link_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/cloud"
	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/linktest"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestStopAnswersEveryQueuedCommand: commands queued when the link stops are either
// executed (those already verified and handed to the worker) or refused
// "shutting_down" (those still queued), in arrival order, each answered exactly once:
// none is dropped without an answer, none runs after the refusals began.
func TestStopAnswersEveryQueuedCommand(t *testing.T) {
	f := fixture.New(t, fixture.Options{NoLink: true})
	h := &linktest.AtomicHandler{Handler: f.Handler, Log: f.Log, Types: []protocol.CommandType{protocol.CmdPing}}
	f.Handler.Func = func(ctx context.Context, cmd *protocol.Command) link.Result {
		if cmd.Typ == protocol.CmdStatus {
			<-ctx.Done() // holds the worker until the link stops
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
		cmd, err := cloud.Sign(fixture.FleetKey, "", fixture.Locker, fmt.Sprintf("q-%03d", i), body, now, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		raw.Publish(f.Topics.Command(fixture.Locker), 1, false, cmd.Token)
		ids[i] = cmd.ID
	}
	testenv.Eventually(t, 10*time.Second, "every command received", func() bool { return l.Stats().Received == n })
	stop()

	final := map[string]protocol.Status{}
	var order []string
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
		order = append(order, r.ID)
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
	if executed < 2 || refusedFrom < 0 {
		t.Fatalf("%d executed, refusals from #%d: want both kinds", executed, refusedFrom)
	}
	if got := h.Count(); got != executed {
		t.Fatalf("handler ran %d commands, %d answered done", got, executed)
	}
	t.Logf("%d executed, %d refused shutting_down", executed, n-executed)
}
