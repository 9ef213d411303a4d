package link_test

import (
	"context"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestInProgressAfterCrashIsUnknown: the device recorded a command and lost
// power before finishing it. When the command arrives again (the cloud
// re-sends it), it is answered "outcome unknown" and never run, and that
// answer is what every later copy gets.
func TestInProgressAfterCrashIsUnknown(t *testing.T) {
	f := fixture.New(t, fixture.Options{NoLink: true})
	now := time.Now()
	cmd, err := fleet.Sign(fixture.FleetKey, "", fixture.Locker, "open-1",
		&protocol.OpenCompartmentBody{Compartment: 4, Reason: protocol.OpenSupport, Operator: "op-1"}, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// What the previous run left behind: Begin without Finish.
	if prior, err := f.Log.Begin(cmd.ID, cmd.Expires); err != nil || prior != nil {
		t.Fatalf("Begin: %v %v", prior, err)
	}
	f.StartLink(t, nil)
	ctx := testenv.Context(t, 20*time.Second)
	for i := range 2 {
		r, err := f.Cloud.Send(ctx, cmd, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != protocol.StatusUnknown || r.Reason != protocol.ReasonInterrupted || r.Typ != protocol.CmdOpenCompartment {
			t.Fatalf("copy %d: got %+v", i, r)
		}
	}
	if n := f.Handler.Count(); n != 0 {
		t.Fatalf("a command found in progress was run again (%d times)", n)
	}
	if _, finished, r := f.Log.Lookup(cmd.ID); !finished || r.Status != protocol.StatusUnknown {
		t.Fatalf("log entry: finished=%v %+v", finished, r)
	}
}

// TestRestartDoesNotRepeatCommands: a command executed before a restart is
// answered from the command log after it.
func TestRestartDoesNotRepeatCommands(t *testing.T) {
	f := fixture.New(t, fixture.Options{NoLink: true})
	stop := f.StartLink(t, nil)
	cmd, err := f.Cloud.NewCommand(fixture.Locker, &protocol.CancelBody{Parcel: "p-3"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 20*time.Second)
	if r, err := f.Cloud.Send(ctx, cmd, nil); err != nil || r.Status != protocol.StatusDone {
		t.Fatalf("first run: %+v %v", r, err)
	}
	stop()
	f.StartLink(t, nil)
	if r, err := f.Cloud.Send(ctx, cmd, nil); err != nil || r.Status != protocol.StatusDone {
		t.Fatalf("after restart: %+v %v", r, err)
	}
	if n := f.Handler.Count(); n != 1 {
		t.Fatalf("handler ran %d times", n)
	}
}

// TestBusyQueueRefuses: when the worker is stuck and the queue is full,
// further commands are refused "busy" rather than dropped silently or
// blocking paho.
func TestBusyQueueRefuses(t *testing.T) {
	release := make(chan struct{})
	f := fixture.New(t, fixture.Options{Link: func(c *link.Config) { c.QueueLen = 2 }})
	f.Handler.Func = func(ctx context.Context, _ *protocol.Command) link.Result {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return link.Done(nil)
	}
	replies := f.Replies(t)
	raw := f.Raw(t, "cloud", nil)
	const n = 6
	for i := range n {
		cmd, err := f.Cloud.NewCommandAt(fixture.Locker, "busy-"+string(rune('a'+i)), &protocol.PingBody{}, time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		fixture.Publish(t, raw, f.Topics.Command(fixture.Locker), cmd.Token)
	}
	// The worker holds one command and the queue two; the other three are
	// refused while the handler is still blocked.
	busy := 0
	for busy < n-3 {
		if r := fixture.NextReply(t, replies); r.Status == protocol.StatusRefused {
			if r.Reason != protocol.ReasonBusy {
				t.Fatalf("refused for %s", r.Reason)
			}
			busy++
		}
	}
	close(release)
	final := busy
	for final < n {
		if r := fixture.NextReply(t, replies); r.Status.Final() {
			if r.Status == protocol.StatusRefused {
				busy++
			}
			final++
		}
	}
	if got := f.Handler.Count(); got != n-busy {
		t.Fatalf("handler ran %d times, %d refused busy", got, busy)
	}
}

// TestLinkOverTLS: the link connects with a client certificate whose CN is
// its locker id, and commands flow.
func TestLinkOverTLS(t *testing.T) {
	f := fixture.New(t, fixture.Options{NoLink: true})
	f.StartLink(t, func(c *link.Config) {
		c.Broker = f.Broker.TLSURL()
		c.TLS = f.Broker.ClientTLS(fixture.Locker)
		c.Password = ""
	})
	if r := f.Send(t, &protocol.PingBody{}); r.Status != protocol.StatusDone {
		t.Fatalf("got %+v", r)
	}
}
