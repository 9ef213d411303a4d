package mqtttest

import (
	"net"
	"strings"
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

// Handshake answers what a client of the cloud link sends after connecting, until
// it is online: SUBACK (QoS 1) for a SUBSCRIBE, PUBACK for a PUBLISH, PINGRESP for a
// PINGREQ, until the PUBLISH of its birth message (a status topic). A client that
// announces itself before subscribing fails the test: the link subscribes after
// every connect (architecture §6).
func (fc *ScriptedConn) Handshake() {
	fc.t.Helper()
	subscribed := false
	for {
		switch p := fc.ReadPacket().(type) {
		case *packets.SubscribePacket:
			ack := packets.NewControlPacket(packets.Suback).(*packets.SubackPacket)
			ack.MessageID, ack.ReturnCodes = p.MessageID, []byte{1}
			fc.WritePacket(ack)
			subscribed = true
		case *packets.PublishPacket:
			fc.Puback(p.MessageID)
			if strings.HasSuffix(p.TopicName, "/status") {
				if !subscribed {
					fc.t.Fatal("scripted broker: the client went online before subscribing")
				}
				return
			}
		case *packets.PingreqPacket:
			fc.WritePacket(packets.NewControlPacket(packets.Pingresp))
		default:
			fc.t.Fatalf("scripted broker: read %v during the handshake", p)
		}
	}
}

// StreamOversized sends what no honest broker sends: the fixed header of a PUBLISH
// announcing the largest remaining length MQTT can say (268,435,455 bytes), the
// start of its body, then chunk-sized writes of the rest, until the client hangs up
// or limit bytes went out. It returns the bytes streamed and the write error that
// ended it: nil means the client took limit bytes without hanging up. Every write
// has the given deadline.
func (fc *ScriptedConn) StreamOversized(chunk, limit int, deadline time.Duration) (int, error) {
	fc.Conn.SetWriteDeadline(time.Now().Add(deadline))
	_, err := fc.Conn.Write([]byte{0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 't'})
	buf := make([]byte, chunk)
	streamed := 0
	for err == nil && streamed < limit {
		var n int
		n, err = fc.Conn.Write(buf)
		streamed += n
	}
	return streamed, err
}
