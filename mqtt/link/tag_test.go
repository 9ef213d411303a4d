package link_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/internal/fixture"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestEventsCarryTheDeviceMAC: every event the link publishes carries its tag
// (docs/protocol.md §5.3) over exactly the event's bytes; under another locker's key
// or as a reply it does not verify.
func TestEventsCarryTheDeviceMAC(t *testing.T) {
	f := fixture.New(t, fixture.Options{})
	events := f.Subscribe(t, f.Topics.Event(fixture.Locker))
	for i := range 3 {
		if _, err := f.Outbox.Add(protocol.EvDoorClosed, time.Now(), &protocol.DoorEvent{Compartment: uint16(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	key := fixture.EventKeys[fixture.Locker]
	for i := range 3 {
		var msg []byte
		select {
		case msg = <-events:
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d never arrived", i+1)
		}
		payload, err := protocol.VerifyTag(key, protocol.KindEvent, fixture.Locker, msg)
		if err != nil {
			t.Fatalf("event %d: %v\n%s", i+1, err, msg)
		}
		ev, _, err := protocol.DecodeEvent(payload)
		if err != nil || ev.Seq != uint64(i+1) {
			t.Fatalf("event %d: %v %+v", i+1, err, ev)
		}
		if bytes.Contains(payload, []byte(`"mac"`)) {
			t.Fatalf("the verified payload still holds the tag: %s", payload)
		}
		if _, err := protocol.VerifyTag(fixture.EventKeys[fixture.OtherLocker], protocol.KindEvent, fixture.Locker, msg); err == nil {
			t.Fatal("an event verified under another locker's key")
		}
		if _, err := protocol.VerifyTag(key, protocol.KindReply, fixture.Locker, msg); err == nil {
			t.Fatal("an event verified as a reply")
		}
	}
}
