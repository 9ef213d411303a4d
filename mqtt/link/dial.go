package link

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// dial opens the connection to the broker for paho (SetCustomOpenConnectionFn), for
// the schemes the link takes: tcp and mqtt, or ssl, tls and mqtts over TLS with
// l.cfg.TLS (ServerName from the broker's host when it has none). It goes through a
// proxy the environment names (ALL_PROXY, NO_PROXY), as paho does for tcp, and for
// TLS too; dialling and the handshake together are bounded by l.cfg.Timeout. Its
// reads are buffered: paho reads each packet in three or four small reads (a byte,
// the length byte by byte, the rest), on plain TCP each a system call, several per
// command in a burst of announcements (ADR 0031).
func (l *Link) dial(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
	secure, ok := brokerSchemes[uri.Scheme]
	if !ok {
		return nil, fmt.Errorf("link: broker scheme %q: want tcp, mqtt, ssl, tls or mqtts", uri.Scheme)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeout)
	defer cancel()
	d := &net.Dialer{}
	var conn net.Conn
	var err error
	switch p := proxy.FromEnvironmentUsing(d).(type) {
	case proxy.ContextDialer:
		conn, err = p.DialContext(ctx, "tcp", uri.Host)
	default:
		conn, err = p.Dial("tcp", uri.Host)
	}
	if err != nil {
		return nil, err
	}
	if secure {
		cfg := l.cfg.TLS
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = uri.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, 16<<10)}, nil
}

// bufferedConn is a connection whose reads go through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads from the buffer; data already buffered is read whatever the deadline.
func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
