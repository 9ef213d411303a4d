package link

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/mqtt/mqtttest"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// publishBytes is a QoS 0 PUBLISH on topic "t" with a payload of n bytes.
func publishBytes(n int) []byte {
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.TopicName, p.Payload = "t", bytes.Repeat([]byte{'x'}, n)
	var b bytes.Buffer
	p.Write(&b)
	return b.Bytes()
}

// TestPacketConn: packets up to the limit reach paho's decoder whole, in any mix of
// one- to three-byte length fields; a fixed header announcing more than the limit,
// or a length field that never ends, cuts the connection before paho reads a byte of
// the packet, and every later read fails.
func TestPacketConn(t *testing.T) {
	const limit = 1000 // remaining length: topic (3) + payload
	ping := []byte{0xd0, 0x00}
	tests := []struct {
		name    string
		stream  [][]byte
		packets int // decoded before the cut (or in all)
		refused bool
	}{
		{name: "small and zero-length", stream: [][]byte{publishBytes(3), ping, publishBytes(0)}, packets: 3},
		{name: "two-byte length", stream: [][]byte{publishBytes(200), publishBytes(997)}, packets: 2},
		{name: "exactly the limit", stream: [][]byte{publishBytes(limit - 3)}, packets: 1},
		{name: "one over the limit", stream: [][]byte{ping, publishBytes(limit - 2), ping}, packets: 1, refused: true},
		{name: "256 MB announced", stream: [][]byte{publishBytes(5), {0x30, 0xff, 0xff, 0xff, 0x7f}, bytes.Repeat([]byte{0}, 4096)},
			packets: 1, refused: true},
		{name: "length that never ends", stream: [][]byte{{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}}, refused: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer server.Close()
			go func() {
				for _, b := range tc.stream {
					if _, err := server.Write(b); err != nil {
						return
					}
				}
				server.Close()
			}()
			var refusals []int
			c := &packetConn{Conn: client, r: bufio.NewReader(client), max: limit,
				refused: func(n int) { refusals = append(refusals, n) }}
			got := 0
			var err error
			for {
				if _, err = packets.ReadPacket(c); err != nil {
					break
				}
				got++
			}
			if got != tc.packets {
				t.Errorf("decoded %d packets, want %d", got, tc.packets)
			}
			if tc.refused != errors.Is(err, ErrPacketTooLarge) {
				t.Fatalf("read error %v, refused want %v", err, tc.refused)
			}
			if !tc.refused {
				if err != io.EOF {
					t.Fatalf("read error %v, want EOF at the end of the stream", err)
				}
				return
			}
			if len(refusals) != 1 {
				t.Fatalf("refused callback called %d times, want once", len(refusals))
			}
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrPacketTooLarge) {
				t.Fatalf("read after the cut: %v, want ErrPacketTooLarge again", err)
			}
			if _, err := client.Write([]byte{0}); err == nil {
				t.Fatal("the connection is still open after the cut")
			}
		})
	}
}

// TestRogueBrokerPacketLength: a broker that announces a 256 MB packet and starts
// streaming it gets its connection closed with a logged reason, the link allocates
// nothing near the announced size (paho alone would allocate all of it at once:
// upstream issue 754), and the link connects again. The RSS of a real lockerd in the
// same situation is measured by firmware's TestRogueBrokerMemory.
func TestRogueBrokerPacketLength(t *testing.T) {
	fb := mqtttest.NewScripted(t)
	var logs testenv.SyncBuffer
	l, err := New(Config{Broker: fb.URL(), LockerID: "L1", Topics: protocol.MustTopics("lockers"), FleetKeys: fleetPubs, EventKey: testEventKey,
		Boot: "b1", Version: "v1", Handler: HandlerFunc(func(context.Context, *protocol.Command) Result { return Result{} }),
		Commands: nopLog{}, Outbox: nopOutbox{}, Timeout: 5 * time.Second,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- l.Run(ctx) }()
	defer cancel()

	conn1 := fb.Accept(false)
	conn1.Handshake() // SUBSCRIBE, then the birth

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// A PUBLISH of 268,435,455 bytes, streamed until the link hangs up (32 MiB at most).
	streamed, err := conn1.StreamOversized(64<<10, 32<<20, 10*time.Second)
	if err == nil {
		t.Fatalf("the link read %d bytes of a 256 MB packet and kept the connection", streamed)
	}

	conn2 := fb.Accept(true) // the link reconnects
	conn2.Handshake()
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("the link allocated %d MiB while refusing the packet", grew>>20)
	}
	if got := l.Stats().Oversized; got != 1 {
		t.Fatalf("Stats().Oversized = %d, want 1", got)
	}
	if log := logs.String(); !strings.Contains(log, "oversized packet") || !strings.Contains(log, "announced_bytes=268435455") {
		t.Fatalf("no logged reason for the cut; log:\n%s", log)
	}
	cancel() // a clean stop: the offline presence, acknowledged
	if p := conn2.ReadPublish(); !strings.Contains(string(p.Payload), "offline") {
		t.Fatalf("at stop the link sent %s, want its offline presence", p.Payload)
	} else {
		conn2.Puback(p.MessageID)
	}
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	t.Logf("link cut the connection after %d KiB streamed; allocated %d KiB meanwhile",
		streamed>>10, (after.TotalAlloc-before.TotalAlloc)>>10)
}
