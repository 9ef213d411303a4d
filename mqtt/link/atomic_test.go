package link_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/linktest"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// atomicFixture starts a link whose handler executes ping and announce atomically.
func atomicFixture(t *testing.T) (*fixture.Fixture, *linktest.AtomicHandler) {
	f := fixture.New(t, fixture.Options{NoLink: true})
	h := &linktest.AtomicHandler{Handler: f.Handler, Log: f.Log, Types: []protocol.CommandType{protocol.CmdPing, protocol.CmdAnnounce}}
	f.StartLink(t, func(c *link.Config) { c.Handler = h })
	return f, h
}

// TestAtomicCommands: commands the handler takes atomically get their final reply
// only (no accepted), are executed once however often they arrive, and an id found
// in progress is answered unknown; other commands keep accepted-then-final.
func TestAtomicCommands(t *testing.T) {
	f, h := atomicFixture(t)
	replies := f.Replies(t)
	ctx := testenv.Context(t, 30*time.Second)
	now := time.Now()
	sign := func(id string, body protocol.Body) *fleet.Command {
		cmd, err := fleet.Sign(fixture.FleetKey, "", fixture.Locker, id, body, now, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	stuck := sign("ping-stuck", &protocol.PingBody{})
	if prior, err := f.Log.Begin(stuck.ID, stuck.Expires); err != nil || prior != nil {
		t.Fatalf("Begin: %v %v", prior, err)
	}
	cases := []struct {
		name     string
		cmd      *fleet.Command
		status   protocol.Status
		statuses []protocol.Status // every reply, in order
	}{
		{"atomic", sign("ping-1", &protocol.PingBody{}), protocol.StatusDone, []protocol.Status{protocol.StatusDone}},
		{"atomic again", sign("ping-1", &protocol.PingBody{}), protocol.StatusDone, []protocol.Status{protocol.StatusDone}},
		{"atomic found in progress", stuck, protocol.StatusUnknown, []protocol.Status{protocol.StatusUnknown}},
		{"not atomic", sign("status-1", &protocol.StatusBody{}), protocol.StatusDone, []protocol.Status{protocol.StatusAccepted, protocol.StatusDone}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.Cloud.Send(ctx, tc.cmd, nil); err != nil {
				t.Fatal(err)
			}
			var got []protocol.Status
			for len(got) == 0 || !got[len(got)-1].Final() {
				if r := fixture.NextReply(t, replies); r.ID == tc.cmd.ID {
					got = append(got, r.Status)
				}
			}
			if !slices.Equal(got, tc.statuses) {
				t.Fatalf("replies %v, want %v", got, tc.statuses)
			}
		})
	}
	if n := h.Count(); n != 2 { // ping-1 once, status-1 once
		t.Fatalf("handler ran %d times", n)
	}
}

// TestAtomicRunsShareOneCall: commands queued behind a slow one are executed in one
// HandleAtomic call (one durable write for the real store), in arrival order, and
// each run is answered in one message (ADR 0031) with one tag (ADR 0050).
func TestAtomicRunsShareOneCall(t *testing.T) {
	f, h := atomicFixture(t)
	release := make(chan struct{})
	f.Handler.Func = holdStatus(release)
	replies := f.Replies(t)
	messages := f.Subscribe(t, f.Topics.Reply(fixture.Locker))
	raw := f.Raw(t, "cloud", nil)
	now := time.Now()
	var ids []string
	for i := range 11 {
		var body protocol.Body = &protocol.PingBody{}
		if i == 0 {
			body = &protocol.StatusBody{} // holds the worker while the others queue up
		}
		cmd, err := fleet.Sign(fixture.FleetKey, "", fixture.Locker, fmt.Sprintf("run-%02d", i), body, now, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		fixture.Publish(t, raw, f.Topics.Command(fixture.Locker), cmd.Token)
		ids = append(ids, cmd.ID)
	}
	testenv.Eventually(t, 10*time.Second, "commands queued behind the slow one", func() bool { return h.Count() == 1 })
	close(release)
	var done []string
	for len(done) < len(ids) {
		if r := fixture.NextReply(t, replies); r.Status == protocol.StatusDone {
			done = append(done, r.ID)
		}
	}
	if !slices.Equal(done, ids) {
		t.Fatalf("final replies in order %v, want %v", done, ids)
	}
	runs := h.Runs()
	if len(runs) == 0 || slices.Max(runs) < 2 || sum(runs) != 10 {
		t.Fatalf("atomic runs %v: want the queued pings grouped", runs)
	}
	// The status command's accepted and done leave alone; each run's pings together.
	var sizes []int
	for n := 0; n < 12; {
		var p []byte
		select {
		case p = <-messages:
		case <-time.After(10 * time.Second):
			t.Fatalf("replies in messages of %v, then nothing", sizes)
		}
		// One tag, the device's MAC, covers all the replies of the message (ADR 0050).
		payload, err := protocol.VerifyTag(fixture.EventKeys[fixture.Locker], protocol.KindReply, fixture.Locker, p)
		if err != nil {
			t.Fatalf("reply message %d: %v", len(sizes)+1, err)
		}
		rs, err := protocol.DecodeReplies(payload)
		if err != nil {
			t.Fatal(err)
		}
		sizes, n = append(sizes, len(rs)), n+len(rs)
	}
	if want := append([]int{1, 1}, runs...); !slices.Equal(sizes, want) {
		t.Fatalf("replies in messages of %v, want %v (the status command's two, then one message per run %v)", sizes, want, runs)
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// holdStatus is a handler that holds the worker on a status command until release is
// closed or the link stops, so that the commands sent after it queue up; everything
// else is done at once.
func holdStatus(release <-chan struct{}) func(context.Context, *protocol.Command) link.Result {
	return func(ctx context.Context, cmd *protocol.Command) link.Result {
		if cmd.Typ == protocol.CmdStatus {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return link.Done(nil)
	}
}

// TestLoneCommandsAreNotHeldBack: commands sent one at a time, each after the last
// one's reply, are each answered once, without waiting for a re-send: a run waits
// for more commands only while some are really on their way (found by the round-trip
// benchmark: about one command in a hundred stalled until the cloud re-sent it).
func TestLoneCommandsAreNotHeldBack(t *testing.T) {
	f, _ := atomicFixture(t)
	replies := f.Replies(t)
	ctx := testenv.Context(t, 60*time.Second)
	const n = 300
	for i := range n {
		now := time.Now()
		cmd, err := fleet.Sign(fixture.FleetKey, "", fixture.Locker, fmt.Sprintf("lone-%03d", i), &protocol.PingBody{}, now, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Cloud.Send(ctx, cmd, nil); err != nil {
			t.Fatal(err)
		}
	}
	answers := map[string]int{}
	for total := 0; total < n; {
		r := fixture.NextReply(t, replies)
		answers[r.ID]++
		total++
	}
	time.Sleep(100 * time.Millisecond)
	for len(replies) > 0 {
		answers[(<-replies).ID]++
	}
	for id, k := range answers {
		if k != 1 {
			t.Fatalf("command %s answered %d times: it waited for its re-send", id, k)
		}
	}
}
