package link

import (
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestDial: the link's own dialer reads a packet's small reads from one buffer, and
// refuses schemes the link does not take with a clear error. (TLS and the password
// listener are exercised against mosquitto by every integration test.)
func TestDial(t *testing.T) {
	l := &Link{cfg: Config{Timeout: 5 * time.Second, MaxPacketSize: 1 << 10}}
	for _, scheme := range []string{"ws", "wss", "unix", "http"} {
		_, err := l.dial(&url.URL{Scheme: scheme, Host: "127.0.0.1:1"}, paho.ClientOptions{})
		if err == nil || !strings.Contains(err.Error(), "scheme") {
			t.Errorf("scheme %s: %v, want a refusal naming the scheme", scheme, err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	packet := []byte{0x30, 0x05, 0, 1, 't', 'x', 'y'} // a PUBLISH as paho reads it
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(packet)
		io.Copy(io.Discard, c)
	}()
	conn, err := l.dial(&url.URL{Scheme: "tcp", Host: ln.Addr().String()}, paho.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, ok := conn.(*packetConn); !ok {
		t.Fatalf("dial returned %T, want a buffered connection", conn)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 0, len(packet))
	for _, n := range []int{1, 1, 5} { // header byte, length byte, rest
		buf := make([]byte, n)
		if _, err := io.ReadFull(conn, buf); err != nil {
			t.Fatal(err)
		}
		got = append(got, buf...)
	}
	if string(got) != string(packet) {
		t.Fatalf("read % x, want % x", got, packet)
	}
}
