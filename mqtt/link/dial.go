package link

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/internal/brokerdial"
)

// dial opens the connection to the broker for paho (SetCustomOpenConnectionFn), for
// the schemes the link takes: tcp and mqtt, or ssl, tls and mqtts over TLS with
// l.cfg.TLS (ServerName from the broker's host when it has none). It goes through a
// proxy the environment names (ALL_PROXY, NO_PROXY), as paho does for tcp, and for
// TLS too; dialling and the handshake together are bounded by l.cfg.Timeout. Its
// reads are buffered: paho reads each packet in three or four small reads (a byte,
// the length byte by byte, the rest), on plain TCP each a system call, several per
// command in a burst of announcements (ADR 0031). It refuses a packet whose fixed
// header announces more than l.cfg.MaxPacketSize bytes before paho sees a byte of
// it (packetConn).
func (l *Link) dial(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
	secure, ok := brokerSchemes[uri.Scheme]
	if !ok {
		return nil, fmt.Errorf("link: broker scheme %q: want tcp, mqtt, ssl, tls or mqtts", uri.Scheme)
	}
	key := brokerKey(uri)
	if !l.brokers.allow(key) {
		return nil, errSkipped
	}
	conn, err := l.dialBroker(uri, secure)
	if err != nil {
		l.brokers.fail(key)
		return nil, err
	}
	l.brokers.dial(key)
	return conn, nil
}

func (l *Link) dialBroker(uri *url.URL, secure bool) (net.Conn, error) {
	conn, err := brokerdial.Dial(uri, secure, l.cfg.TLS, l.cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return &packetConn{Conn: conn, r: bufio.NewReaderSize(conn, 16<<10), max: l.cfg.MaxPacketSize,
		refused: func(n int) {
			l.stats.oversized.Add(1)
			l.log.Error("mqtt: broker sent an oversized packet; closing the connection",
				"announced_bytes", n, "limit", l.cfg.MaxPacketSize)
		}}, nil
}

// ErrPacketTooLarge is the read error of a connection whose broker announced a
// packet over Config.MaxPacketSize; paho reports it as the connection lost.
var ErrPacketTooLarge = errors.New("link: broker packet over the size limit")

// packetConn is the connection paho reads the broker from: buffered, and cut at the
// first packet larger than max. paho v1.5.1 allocates whatever remaining length a
// fixed header announces, up to 256 MiB, before reading the body (upstream issue
// 754): on a Pi, a broker that announces one is an out-of-memory kill. So packetConn
// follows packet boundaries and reads each fixed header whole (type byte and the
// 1-4 bytes of its length) before it hands paho its first byte; an oversized one
// closes the connection, and paho gets ErrPacketTooLarge instead (ADR 0033).
type packetConn struct {
	net.Conn
	r       *bufio.Reader
	max     int
	refused func(announced int)

	left int   // bytes of the current packet not yet read by paho
	err  error // sticky: the connection was cut
}

// Read reads from the buffer, never past the end of the current packet (so the next
// fixed header is always checked first); data already buffered is read whatever the
// deadline.
func (c *packetConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.left == 0 {
		hdr, size, err := c.peekHeader()
		if err != nil {
			return 0, err
		}
		if size > c.max {
			return 0, c.cut(size, fmt.Errorf("%w: %d bytes announced, limit %d", ErrPacketTooLarge, size, c.max))
		}
		c.left = hdr + size
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= n
	return n, err
}

// peekHeader waits for a whole fixed header and returns its length in bytes and the
// remaining length it announces. A length field with a fifth continuation byte is
// malformed (MQTT 3.1.1 §2.2.3) and cuts the connection.
func (c *packetConn) peekHeader() (hdr, size int, err error) {
	for n := 2; n <= 5; n++ {
		b, err := c.r.Peek(n)
		if err != nil {
			return 0, 0, err
		}
		size |= int(b[n-1]&0x7f) << (7 * (n - 2))
		if b[n-1]&0x80 == 0 {
			return n, size, nil
		}
	}
	return 0, 0, c.cut(-1, fmt.Errorf("%w: malformed remaining length", ErrPacketTooLarge))
}

// cut closes the connection for good and reports why.
func (c *packetConn) cut(announced int, err error) error {
	c.err = err
	c.Conn.Close()
	if c.refused != nil {
		c.refused(announced)
	}
	return err
}
