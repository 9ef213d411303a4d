package pahostore

import (
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// TestCopies: what paho puts in is not what it gets back, each Get is a new copy, a
// change to a copy (resume's DUP, a writer's remaining length) reaches neither the
// stored packet nor the original, and keys come back in the order they were stored.
func TestCopies(t *testing.T) {
	s := New()
	s.Open()
	defer s.Close()
	tests := []struct {
		name string
		key  string
		pkt  packets.ControlPacket
	}{
		{"publish", "o.1", &packets.PublishPacket{FixedHeader: packets.FixedHeader{MessageType: packets.Publish, Qos: 1},
			TopicName: "t", MessageID: 1, Payload: []byte("x")}},
		{"pubrel", "o.2", &packets.PubrelPacket{FixedHeader: packets.FixedHeader{MessageType: packets.Pubrel, Qos: 1}, MessageID: 2}},
		{"subscribe", "o.3", &packets.SubscribePacket{FixedHeader: packets.FixedHeader{MessageType: packets.Subscribe, Qos: 1},
			MessageID: 3, Topics: []string{"a"}, Qoss: []byte{1}}},
		{"unsubscribe", "o.4", &packets.UnsubscribePacket{FixedHeader: packets.FixedHeader{MessageType: packets.Unsubscribe, Qos: 1},
			MessageID: 4, Topics: []string{"a"}}},
		{"inbound publish", "i.5", &packets.PublishPacket{FixedHeader: packets.FixedHeader{MessageType: packets.Publish, Qos: 2},
			TopicName: "t", MessageID: 5}},
	}
	for _, tc := range tests {
		s.Put(tc.key, tc.pkt)
	}
	if got := s.All(); len(got) != len(tests) {
		t.Fatalf("All() = %v, want %d keys", got, len(tests))
	} else {
		for i, tc := range tests {
			if got[i] != tc.key {
				t.Fatalf("All()[%d] = %s, want %s (store order)", i, got[i], tc.key)
			}
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := s.Get(tc.key), s.Get(tc.key)
			if a == tc.pkt || b == tc.pkt || a == b {
				t.Fatal("Get returned a packet that is shared (with Put's argument or another Get)")
			}
			if a.String() != tc.pkt.String() {
				t.Fatalf("copy %v differs from original %v", a, tc.pkt)
			}
			header(a).Dup = true
			header(a).RemainingLength = 99
			if h := header(tc.pkt); h.Dup || h.RemainingLength == 99 {
				t.Fatal("changing a copy changed the original")
			}
			if h := header(s.Get(tc.key)); h.Dup || h.RemainingLength == 99 {
				t.Fatal("changing a copy changed the stored packet")
			}
		})
	}
	s.Del("o.1")
	if s.Get("o.1") != nil {
		t.Fatal("Get after Del returned a packet")
	}
	s.Reset()
	if len(s.All()) != 0 {
		t.Fatal("Reset left packets")
	}
}

func header(p packets.ControlPacket) *packets.FixedHeader {
	switch p := p.(type) {
	case *packets.PublishPacket:
		return &p.FixedHeader
	case *packets.PubrelPacket:
		return &p.FixedHeader
	case *packets.SubscribePacket:
		return &p.FixedHeader
	case *packets.UnsubscribePacket:
		return &p.FixedHeader
	}
	panic("unexpected packet type")
}
