package link

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// publishRecorder is a paho.Client that records what is published.
type publishRecorder struct {
	paho.Client // other methods are not called
	topics      []string
	payloads    [][]byte
}

func (p *publishRecorder) Publish(topic string, _ byte, _ bool, payload any) paho.Token {
	p.topics, p.payloads = append(p.topics, topic), append(p.payloads, payload.([]byte))
	return doneToken{}
}

type doneToken struct{}

func (doneToken) Wait() bool                     { return true }
func (doneToken) WaitTimeout(time.Duration) bool { return true }
func (doneToken) Done() <-chan struct{}          { c := make(chan struct{}); close(c); return c }
func (doneToken) Error() error                   { return nil }

// TestReplyBatchLimits: a held batch leaves in messages of at most MaxReplyBatch
// replies and MaxReplyMessage bytes, in order; a reply larger than the limit leaves
// alone; an immediate batch publishes each reply as it comes.
func TestReplyBatchLimits(t *testing.T) {
	rec := &publishRecorder{}
	l := &Link{client: rec, replyTopic: "lockers/L1/reply", log: slog.New(slog.DiscardHandler)}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	reply := func(i int, detail string) protocol.Reply {
		return protocol.Reply{ID: fmt.Sprintf("c-%04d", i), Ref: protocol.CommandRef([]byte{byte(i), byte(i >> 8)}),
			Typ: protocol.CmdPing, Status: protocol.StatusDone, Detail: detail, Time: now}
	}

	out := l.batch()
	const n = 1200
	for i := range n {
		out.add(reply(i, ""), nil)
	}
	big := reply(n, "")
	big.Body = []byte(`{"pad":"` + strings.Repeat("x", protocol.MaxReplyMessage) + `"}`)
	out.add(big, nil)
	out.add(reply(n+1, ""), nil)
	if len(rec.payloads) == 0 {
		t.Fatal("nothing published before flush: want the full messages sent as the batch fills")
	}
	out.flush()
	out.flush() // nothing left: publishes nothing

	var ids []string
	for i, p := range rec.payloads {
		if rec.topics[i] != "lockers/L1/reply" {
			t.Fatalf("published on %s", rec.topics[i])
		}
		rs, err := protocol.DecodeReplies(p)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if len(rs) > 1 && len(p) > protocol.MaxReplyMessage {
			t.Fatalf("message %d: %d replies in %d bytes", i, len(rs), len(p))
		}
		if len(rs) > protocol.MaxReplyBatch {
			t.Fatalf("message %d: %d replies", i, len(rs))
		}
		if len(p) > protocol.MaxReplyMessage && (len(rs) != 1 || rs[0].ID != big.ID) {
			t.Fatalf("message %d over the limit holds %d replies, want the big one alone", i, len(rs))
		}
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) != n+2 {
		t.Fatalf("%d replies published, want %d", len(ids), n+2)
	}
	for i, id := range ids {
		if want := fmt.Sprintf("c-%04d", i); id != want {
			t.Fatalf("reply %d is %s, want %s: order lost", i, id, want)
		}
	}

	rec.payloads, rec.topics = nil, nil
	l.sendReply(reply(1, ""))
	l.sendReply(reply(2, ""))
	if len(rec.payloads) != 2 || rec.payloads[0][0] != '{' {
		t.Fatalf("sendReply: %d messages, want 2 single objects", len(rec.payloads))
	}
}
