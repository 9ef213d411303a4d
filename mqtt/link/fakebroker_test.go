package link

import (
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// fakeBroker is an MQTT server on loopback that a test scripts packet by packet: it
// hands each accepted connection to the test, which reads and writes whole packets
// (paho's own packet codec) and decides when to acknowledge, stall or hang up. Real
// brokers are tested elsewhere (mosquitto, mochi); this one exists for the moments a
// real broker cannot be made to produce: an acknowledgement held back until a
// resume, a fixed header no honest broker sends.
type fakeBroker struct {
	t     testing.TB
	ln    net.Listener
	conns chan net.Conn
}

func newFakeBroker(t testing.TB) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBroker{t: t, ln: ln, conns: make(chan net.Conn, 8)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(b.conns)
				return
			}
			b.conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range b.conns {
			c.Close()
		}
	})
	return b
}

// URL is the broker's address for paho.
func (b *fakeBroker) URL() string { return "tcp://" + b.ln.Addr().String() }

// accept waits for the next client connection, reads its CONNECT and answers it
// CONNACK (accepted, with sessionPresent as given). Every packet read or written on
// it has a 10 s deadline, so a test that goes wrong fails instead of hanging.
func (b *fakeBroker) accept(sessionPresent bool) *fakeConn {
	b.t.Helper()
	select {
	case c, ok := <-b.conns:
		if !ok {
			b.t.Fatal("fake broker: listener closed")
		}
		fc := &fakeConn{t: b.t, c: c}
		b.t.Cleanup(func() { c.Close() })
		if p, ok := fc.read().(*packets.ConnectPacket); !ok {
			b.t.Fatalf("fake broker: first packet %v, want CONNECT", p)
		}
		ack := packets.NewControlPacket(packets.Connack).(*packets.ConnackPacket)
		ack.SessionPresent = sessionPresent
		fc.write(ack)
		return fc
	case <-time.After(10 * time.Second):
		b.t.Fatal("fake broker: no client connected within 10s")
	}
	return nil
}

// fakeConn is one client connection of a fakeBroker.
type fakeConn struct {
	t testing.TB
	c net.Conn
}

func (fc *fakeConn) read() packets.ControlPacket {
	fc.t.Helper()
	fc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packets.ReadPacket(fc.c)
	if err != nil {
		fc.t.Fatalf("fake broker: read: %v", err)
	}
	return p
}

func (fc *fakeConn) write(p packets.ControlPacket) {
	fc.t.Helper()
	fc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := p.Write(fc.c); err != nil {
		fc.t.Fatalf("fake broker: write: %v", err)
	}
}

// readPublish reads packets until a PUBLISH, answering PINGREQ on the way; any other
// packet fails the test.
func (fc *fakeConn) readPublish() *packets.PublishPacket {
	fc.t.Helper()
	for {
		switch p := fc.read().(type) {
		case *packets.PublishPacket:
			return p
		case *packets.PingreqPacket:
			fc.write(packets.NewControlPacket(packets.Pingresp))
		default:
			fc.t.Fatalf("fake broker: read %v, want PUBLISH", p)
		}
	}
}

// puback acknowledges the publish with id.
func (fc *fakeConn) puback(id uint16) {
	fc.t.Helper()
	ack := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
	ack.MessageID = id
	fc.write(ack)
}
