// Package pahostore is the paho.mqtt.golang message store lockerd's MQTT clients use:
// paho's ordered in-memory store, except that no packet handed to it is ever handed
// back. Put keeps a copy of the packet and Get returns a fresh copy of that, so the
// packet paho is writing to the network and the packet its resume() marks as a
// duplicate after a reconnect are never the same memory.
//
// paho v1.5.1 shares them: Publish stores the very packet it passes to the writer,
// and resume() sets the DUP flag on what the store returns while the writer may be
// packing it (upstream issue 703, a data race on every reconnect with publishes in
// flight; docs/adr/0033-paho-store-copies-and-packet-limit.md). Remove this package
// once paho copies packets itself.
package pahostore

import (
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Store is a paho.Store that stores and returns copies of packets. It keeps paho's
// OrderedMemoryStore underneath, so a resume re-sends in the order packets were
// stored (paho's plain MemoryStore is a map and would re-send in random order).
type Store struct {
	inner paho.Store
}

var _ paho.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store { return &Store{inner: paho.NewOrderedMemoryStore()} }

// Open opens the store.
func (s *Store) Open() { s.inner.Open() }

// Put stores a copy of m under key. paho calls it before it passes m on to be
// written, so reading m here cannot race with the writer.
func (s *Store) Put(key string, m packets.ControlPacket) { s.inner.Put(key, clone(m)) }

// Get returns a copy of the packet stored under key, or nil. The caller may change
// it (resume sets DUP; writing a packet sets its remaining length) without touching
// the stored one or any other copy.
func (s *Store) Get(key string) packets.ControlPacket {
	m := s.inner.Get(key)
	if m == nil {
		return nil
	}
	return clone(m)
}

// All returns the stored keys in the order they were stored.
func (s *Store) All() []string { return s.inner.All() }

// Del removes the packet stored under key.
func (s *Store) Del(key string) { s.inner.Del(key) }

// Close closes the store.
func (s *Store) Close() { s.inner.Close() }

// Reset empties the store.
func (s *Store) Reset() { s.inner.Reset() }

// clone copies the packets paho stores (the outbound publish, pubrel, subscribe and
// unsubscribe it may re-send, and the inbound publish and pubrel of QoS 2). Their
// fixed headers and fields are values, which is what writers change; slices (payload,
// topics) are shared because nothing writes into them once a packet is built. A type
// paho does not store is returned as it is.
func clone(m packets.ControlPacket) packets.ControlPacket {
	switch p := m.(type) {
	case *packets.PublishPacket:
		c := *p
		return &c
	case *packets.PubrelPacket:
		c := *p
		return &c
	case *packets.SubscribePacket:
		c := *p
		return &c
	case *packets.UnsubscribePacket:
		c := *p
		return &c
	case *packets.PubackPacket:
		c := *p
		return &c
	case *packets.PubrecPacket:
		c := *p
		return &c
	case *packets.PubcompPacket:
		c := *p
		return &c
	}
	return m
}
