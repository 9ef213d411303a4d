package mqtttest

import (
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Scripted is an MQTT server on loopback that a test scripts packet by packet: it
// hands each accepted connection to the test, which reads and writes whole packets
// (paho's own packet codec) or raw bytes, and decides when to acknowledge, stall or
// hang up. Real brokers are what the other tests use (Start, mosquitto); this one is
// for what a real broker cannot be made to do: hold an acknowledgement back until a
// resume, announce a packet no honest broker sends. Its methods fail the test, so
// call them from the test's goroutine.
type Scripted struct {
	t     testing.TB
	ln    net.Listener
	conns chan net.Conn
}

// NewScripted listens on a free loopback port; the test's cleanup closes it.
func NewScripted(t testing.TB) *Scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &Scripted{t: t, ln: ln, conns: make(chan net.Conn, 8)}
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
func (b *Scripted) URL() string { return "tcp://" + b.ln.Addr().String() }

// Accept waits for the next client connection, reads its CONNECT and answers it
// CONNACK (accepted, with sessionPresent as given). Every packet read or written on
// it has a 10 s deadline, so a test that goes wrong fails instead of hanging.
func (b *Scripted) Accept(sessionPresent bool) *ScriptedConn {
	b.t.Helper()
	select {
	case c, ok := <-b.conns:
		if !ok {
			b.t.Fatal("scripted broker: listener closed")
		}
		fc := &ScriptedConn{t: b.t, Conn: c}
		b.t.Cleanup(func() { c.Close() })
		if p, ok := fc.ReadPacket().(*packets.ConnectPacket); !ok {
			b.t.Fatalf("scripted broker: first packet %v, want CONNECT", p)
		}
		ack := packets.NewControlPacket(packets.Connack).(*packets.ConnackPacket)
		ack.SessionPresent = sessionPresent
		fc.WritePacket(ack)
		return fc
	case <-time.After(10 * time.Second):
		b.t.Fatal("scripted broker: no client connected within 10s")
	}
	return nil
}

// ScriptedConn is one client connection of a Scripted broker; Conn is the socket,
// for raw bytes and for hanging up.
type ScriptedConn struct {
	net.Conn
	t testing.TB
}

// ReadPacket reads one packet.
func (fc *ScriptedConn) ReadPacket() packets.ControlPacket {
	fc.t.Helper()
	fc.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packets.ReadPacket(fc.Conn)
	if err != nil {
		fc.t.Fatalf("scripted broker: read: %v", err)
	}
	return p
}

// WritePacket writes one packet.
func (fc *ScriptedConn) WritePacket(p packets.ControlPacket) {
	fc.t.Helper()
	fc.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := p.Write(fc.Conn); err != nil {
		fc.t.Fatalf("scripted broker: write: %v", err)
	}
}

// ReadPublish reads packets until a PUBLISH, answering PINGREQ on the way; any other
// packet fails the test.
func (fc *ScriptedConn) ReadPublish() *packets.PublishPacket {
	fc.t.Helper()
	for {
		switch p := fc.ReadPacket().(type) {
		case *packets.PublishPacket:
			return p
		case *packets.PingreqPacket:
			fc.WritePacket(packets.NewControlPacket(packets.Pingresp))
		default:
			fc.t.Fatalf("scripted broker: read %v, want PUBLISH", p)
		}
	}
}

// Puback acknowledges the publish with id.
func (fc *ScriptedConn) Puback(id uint16) {
	fc.t.Helper()
	ack := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
	ack.MessageID = id
	fc.WritePacket(ack)
}
