package fleet_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// forge returns msg tagged as kind under key (nil: untagged).
func forge(t *testing.T, key []byte, kind protocol.Kind, msg []byte) []byte {
	t.Helper()
	if key == nil {
		return msg
	}
	out, err := protocol.AppendTag(key, kind, fixture.Locker, msg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestForgedEventsAreDropped: events on L1's topic, published by another client (here
// the cloud's credentials, as a compromised broker could) with no tag, another
// locker's tag or a reply's tag, are dropped and counted, never delivered, and do not
// shadow the genuine events of the same ids and seqs, which still flow.
func TestForgedEventsAreDropped(t *testing.T) {
	f := fixture.New(t, fixture.Options{})
	raw := f.Raw(t, "cloud", nil)
	topic := f.Topics.Event(fixture.Locker)
	ctx := testenv.Context(t, 30*time.Second)
	forged := []struct {
		name string
		key  []byte
		kind protocol.Kind
	}{
		{"no tag", nil, protocol.KindEvent},
		{"another locker's key", fixture.EventKeys[fixture.OtherLocker], protocol.KindEvent},
		{"a reply's domain", fixture.EventKeys[fixture.Locker], protocol.KindReply},
	}
	for i, fc := range forged {
		ev, err := protocol.NewEvent("ev-"+string(rune('1'+i)), uint64(i+1), protocol.EvPickedUp, time.Now(), &protocol.ParcelEvent{Parcel: "p-forged", Compartment: 4})
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := json.Marshal(&ev)
		fixture.Publish(t, raw, topic, forge(t, fc.key, fc.kind, msg))
	}
	testenv.Eventually(t, 10*time.Second, "three forged events counted", func() bool {
		return f.Cloud.EventStats().Unauthenticated == 3
	})
	// The genuine events, with the ids and seqs the forgeries used.
	for i := range 3 {
		if _, err := f.Outbox.Add(protocol.EvDoorClosed, time.Now(), &protocol.DoorEvent{Compartment: uint16(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		ev, err := f.Cloud.NextEvent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != protocol.EvDoorClosed || ev.Seq != uint64(i+1) {
			t.Fatalf("event %d delivered: %s seq %d, want the genuine door_closed", i+1, ev.Type, ev.Seq)
		}
	}
	if st := f.Cloud.EventStats(); st.Unauthenticated != 3 || st.Duplicates != 0 || st.Received != 3 {
		t.Fatalf("event stats %+v: want 3 unauthenticated, 3 received, no duplicate", st)
	}
}

// TestForgedDoneReplyIsDropped: while the locker holds a courier-revoke, another client
// answers it with a forged "done" (the right id and ref; no tag, another locker's tag,
// an event's tag): the fleet drops and counts each, Send keeps waiting, and the
// locker's own done, when it comes, is the answer.
func TestForgedDoneReplyIsDropped(t *testing.T) {
	f := fixture.New(t, fixture.Options{})
	release := make(chan struct{})
	f.Handler.Func = func(ctx context.Context, cmd *protocol.Command) link.Result {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return link.Done(nil)
	}
	ctx := testenv.Context(t, 30*time.Second)
	cmd, err := f.Cloud.NewCommand(fixture.Locker, &protocol.CourierRevokeBody{Courier: "c-7"})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		r   *protocol.Reply
		err error
	}
	answered := make(chan result, 1)
	go func() {
		r, err := f.Cloud.Send(ctx, cmd, nil)
		answered <- result{r, err}
	}()
	testenv.Eventually(t, 10*time.Second, "the locker holds the command", func() bool { return f.Handler.Count() == 1 })

	raw := f.Raw(t, "cloud", nil)
	done, err := protocol.EncodeReply(&protocol.Reply{ID: cmd.ID, Ref: cmd.Ref, Typ: protocol.CmdCourierRevoke,
		Status: protocol.StatusDone, Detail: "forged", Time: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	before := f.Cloud.ReplyStats()
	for _, key := range [][]byte{nil, fixture.EventKeys[fixture.OtherLocker]} {
		fixture.Publish(t, raw, f.Topics.Reply(fixture.Locker), forge(t, key, protocol.KindReply, done))
	}
	fixture.Publish(t, raw, f.Topics.Reply(fixture.Locker), forge(t, fixture.EventKeys[fixture.Locker], protocol.KindEvent, done))
	testenv.Eventually(t, 10*time.Second, "three forged replies counted", func() bool {
		return f.Cloud.ReplyStats().Unauthenticated == before.Unauthenticated+3
	})
	select {
	case res := <-answered:
		t.Fatalf("Send returned on a forged reply: %+v %v", res.r, res.err)
	default:
	}
	close(release)
	res := <-answered
	if res.err != nil || res.r.Status != protocol.StatusDone || strings.Contains(res.r.Detail, "forged") {
		t.Fatalf("Send: %+v %v, want the locker's own done", res.r, res.err)
	}
}

// TestAuditChainAnchored: the fleet anchors the audit head each health event carries
// and reports a chain rewritten (another MAC at a seq it saw) or truncated (a seq
// lower than one it saw), through the real link and broker.
func TestAuditChainAnchored(t *testing.T) {
	f := fixture.New(t, fixture.Options{})
	ctx := testenv.Context(t, 30*time.Second)
	mac := func(b byte) protocol.Digest {
		var d protocol.Digest
		d[0], d[31] = b, b
		return d
	}
	steps := []struct {
		name string
		head protocol.AuditHead
		want fleet.AuditStats
	}{
		{"first head", protocol.AuditHead{Seq: 5, Head: mac(1)}, fleet.AuditStats{Anchored: 1}},
		{"grown", protocol.AuditHead{Seq: 9, Head: mac(2)}, fleet.AuditStats{Anchored: 2}},
		{"idle: same head", protocol.AuditHead{Seq: 9, Head: mac(2)}, fleet.AuditStats{Anchored: 3}},
		{"rewritten at 9", protocol.AuditHead{Seq: 9, Head: mac(3)}, fleet.AuditStats{Anchored: 4, Rewritten: 1}},
		{"truncated to 7", protocol.AuditHead{Seq: 7, Head: mac(4)}, fleet.AuditStats{Anchored: 5, Rewritten: 1, Truncated: 1}},
	}
	for _, st := range steps {
		h := st.head
		if _, err := f.Outbox.Add(protocol.EvHealth, time.Now(), &protocol.HealthEvent{Audit: &h}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Cloud.NextEvent(ctx); err != nil {
			t.Fatal(err)
		}
		if got := f.Cloud.AuditStats(); got != st.want {
			t.Fatalf("%s: audit stats %+v, want %+v", st.name, got, st.want)
		}
	}
	a, ok := f.Cloud.AuditAnchor(fixture.Locker)
	if !ok || a.Problem != fleet.AuditRewritten || a.ProblemHead.Seq != 9 || a.Head.Seq != 9 {
		t.Fatalf("anchor %+v: want the first problem (rewritten at 9) kept, the highest head 9", a)
	}
	if _, ok := f.Cloud.AuditAnchor(fixture.OtherLocker); ok {
		t.Fatal("an anchor for a locker that sent nothing")
	}
}
