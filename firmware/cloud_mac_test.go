package firmware_test

import (
	"context"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestLockerdTagsWithItsEventKey: lockerd's own events and replies, as the broker
// delivers them, verify under the event key the cloud derives from the locker's public
// key (docs/protocol.md §5.3): the key store's key reaches the link. (The simulator's
// fleet client does not verify: it enrols over the link, from a status reply it could
// not verify yet.)
func TestLockerdTagsWithItsEventKey(t *testing.T) {
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "MAC-01"})
	w.runInProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.online(ctx, t, "")
	topics := protocol.MustTopics("lockers")
	msgs := make(chan paho.Message, 100)
	watch := w.raw(t, "mac-watch")
	for _, topic := range []string{topics.Event(w.station.ID), topics.Reply(w.station.ID)} {
		if tok := watch.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { msgs <- m }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	if _, err := w.cloud.EnrolOver(ctx, w.client, w.station.ID); err != nil {
		t.Fatal(err)
	}
	keys, err := w.cloud.Keys(w.station.ID)
	if err != nil {
		t.Fatal(err)
	}
	key := keys.EventKey()
	w.station.Boards.Close() // a hardware event
	var events, replies int
	for events == 0 || replies == 0 {
		var m paho.Message
		select {
		case m = <-msgs:
		case <-ctx.Done():
			t.Fatalf("%d events and %d replies seen, want both", events, replies)
		}
		kind := protocol.KindReply
		if m.Topic() == topics.Event(w.station.ID) {
			kind = protocol.KindEvent
		}
		if _, err := protocol.VerifyTag(key, kind, w.station.ID, m.Payload()); err != nil {
			t.Fatalf("%s message does not verify: %v\n%s", kind, err, m.Payload())
		}
		if kind == protocol.KindEvent {
			events++
		} else {
			replies++
		}
	}
}
