package link

import (
	"context"
	"log/slog"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Replies are published without waiting for the broker: they are best effort,
// because the cloud re-sends a command whose reply it missed and the command log
// answers it again. Waiting would make every command cost a network round trip.

// replyBatch collects replies and publishes them in as few messages as the
// protocol allows: one reply alone, several as an array of at most
// protocol.MaxReplyBatch replies and protocol.MaxReplyMessage bytes (ADR 0031), each
// message with one tag, the device's MAC, covering all its replies (ADR 0050).
// A batch belongs to one goroutine; one made by immediate publishes each reply as
// it is added.
type replyBatch struct {
	l       *Link
	hold    bool
	encoded [][]byte
	ids     []string // for the log when a message is not sent
	size    int
}

// batch returns an empty batch that holds replies until flush.
func (l *Link) batch() *replyBatch { return &replyBatch{l: l, hold: true} }

// immediate returns a batch that publishes each reply as it is added.
func (l *Link) immediate() *replyBatch { return &replyBatch{l: l} }

// add adds the reply r, encoded (encoded here if empty). A reply that does not encode is
// logged and dropped.
func (b *replyBatch) add(r protocol.Reply, encoded []byte) {
	if len(encoded) == 0 {
		var err error
		if encoded, err = protocol.EncodeReply(&r); err != nil {
			b.l.log.Error("reply does not encode", "id", r.ID, "err", err)
			return
		}
	}
	if n := len(b.encoded); n > 0 && (n == protocol.MaxReplyBatch || b.size+len(encoded)+n+2+protocol.TagMemberLen > protocol.MaxReplyMessage) {
		b.flush()
	}
	b.encoded = append(b.encoded, encoded)
	b.ids = append(b.ids, r.ID)
	b.size += len(encoded)
	if !b.hold {
		b.flush()
	}
}

// flush publishes the replies held.
func (b *replyBatch) flush() {
	if len(b.encoded) == 0 {
		return
	}
	msg := protocol.JoinReplies(b.encoded)
	if tagMessages {
		var err error
		if msg, err = protocol.AppendTag(b.l.cfg.EventKey, protocol.KindReply, b.l.cfg.LockerID, msg); err != nil {
			// A bug: EncodeReply makes objects with members.
			b.l.log.Error("reply message not tagged; not sent", "first", b.ids[0], "replies", len(b.ids), "err", err)
			b.reset()
			return
		}
	}
	tok := b.l.client.Publish(b.l.replyTopic, 1, false, msg)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			// Debug for one (the cloud re-sends), Warn for a run's message: many
			// commands to re-send at once is worth an operator's notice.
			level := slog.LevelDebug
			if len(b.ids) > 1 {
				level = slog.LevelWarn
			}
			b.l.log.Log(context.Background(), level, "reply not sent", "first", b.ids[0], "last", b.ids[len(b.ids)-1], "replies", len(b.ids), "err", err)
		}
	default:
	}
	b.reset()
}

// reset empties the batch.
func (b *replyBatch) reset() {
	clear(b.encoded)
	b.encoded, b.ids, b.size = b.encoded[:0], b.ids[:0], 0
}

// sendReply publishes one reply now.
func (l *Link) sendReply(r protocol.Reply) { l.immediate().add(r, nil) }
