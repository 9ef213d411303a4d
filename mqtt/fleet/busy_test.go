package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestBusyRefusalIsNotFinal: a command queued behind a slow one, whose re-send finds
// the queue full and is refused "busy", is still waited for: Send returns the final
// reply of the copy that ran, never the refusal of the copy that did not (found by a
// review: "refused" was reported for a command the locker then executed).
func TestBusyRefusalIsNotFinal(t *testing.T) {
	release := make(chan struct{})
	f := fixture.New(t, fixture.Options{Link: func(c *link.Config) { c.QueueLen = 2 }})
	f.Handler.Func = func(ctx context.Context, cmd *protocol.Command) link.Result {
		if _, ok := cmd.Parsed.(*protocol.RecallBody); ok {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return link.Done(nil)
	}
	ctx := testenv.Context(t, 30*time.Second)
	replies := f.Replies(t)
	slow, err := f.Cloud.NewCommand(fixture.Locker, &protocol.RecallBody{Parcel: "p-slow"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Cloud.Publish(slow); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	// The fixture's client re-sends after 2 s: the re-send meets a full queue.
	time.AfterFunc(3*time.Second, func() { close(release) })
	cmd, err := f.Cloud.NewCommand(fixture.Locker, &protocol.OpenCompartmentBody{Compartment: 3, Reason: protocol.OpenSupport, Operator: "op-1"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Cloud.Send(ctx, cmd, nil)
	if err != nil || r.Status != protocol.StatusDone {
		t.Fatalf("Send: %+v, %v; want the final reply of the copy that ran", r, err)
	}
	for {
		select {
		case r := <-replies:
			if r.ID == cmd.ID && r.Reason == protocol.ReasonBusy {
				return // the re-send was refused busy, and Send waited on
			}
		case <-time.After(time.Second):
			t.Fatal("no busy refusal was sent: the test did not reach its case")
		}
	}
}
