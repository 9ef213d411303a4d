package fleet

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/internal/brokerdial"
)

// The connection paho reads and writes the broker through (SetCustomOpenConnectionFn).
// paho v1.5.1 reads each packet in three or four small reads (the type byte, the
// remaining length byte by byte, the rest) and writes each packet in one write of its
// own: taking a queued backlog, that is four or five system calls per event, one of
// them the 4-byte PUBACK (the CPU profile of BenchmarkBacklogDrain had a third of the
// process in them). bufferedConn reads through a buffer and lets the PUBACKs (and
// whatever else paho writes) that queue up while one write is on the wire go out
// together in the next one (ADR 0067).

// readBuffer is the size of a connection's read buffer: a few dozen events.
const readBuffer = 32 << 10

// maxPending bounds what paho has written and the sender not yet taken (the sender
// holds at most as much again in its write); a Write past it waits, so a broker
// that stops reading holds paho back as a plain connection would.
const maxPending = 256 << 10

// closeFlush bounds how long Close waits for what is pending (a DISCONNECT, the
// last PUBACKs) to go out.
const closeFlush = time.Second

// dial opens the connection to a broker for paho: tcp and mqtt, or ssl, tls, mqtts and
// tcps over TLS with Config.TLS (ServerName from the broker's host when it has none),
// through a proxy the environment names (ALL_PROXY, NO_PROXY) as paho does; dialling
// and the TLS handshake together bounded by Config.Timeout. ws, wss and unix brokers
// are dialled by paho's own code, unbuffered.
func (c *Client) dial(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	switch uri.Scheme {
	case "ws", "wss":
		u := *uri
		u.User = nil
		return paho.NewWebsocket(u.String(), c.cfg.TLS, c.cfg.Timeout, o.HTTPHeaders, o.WebsocketOptions)
	case "unix":
		addr := uri.Host
		if addr == "" {
			addr = uri.Path
		}
		return (&net.Dialer{Timeout: c.cfg.Timeout}).Dial("unix", addr)
	}
	var secure bool
	switch uri.Scheme {
	case "tcp", "mqtt":
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		secure = true
	default:
		return nil, fmt.Errorf("fleet: broker scheme %q: want tcp, mqtt, ssl, tls, mqtts, ws, wss or unix", uri.Scheme)
	}
	conn, err := brokerdial.Dial(uri, secure, c.cfg.TLS, c.cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return newBufferedConn(conn), nil
}

// bufferedConn is a net.Conn whose reads are buffered and whose writes are sent by a
// goroutine of its own: a Write copies its bytes and returns, and what is written
// while the goroutine is sending goes out in its next write. Writes keep their order.
// A failed send closes the connection (paho's reader then reports it lost) and fails
// every later Write; Close sends what is pending first (for at most closeFlush).
//
// A PUBACK therefore leaves a little after paho wrote it, never before: the broker
// forgets a message only later than with a plain connection, so nothing is
// acknowledged that was not received.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	wake    *sync.Cond // pending grew, the sender sent, or the connection closed
	pending []byte     // written by paho, not yet sent
	spare   []byte     // the sender's last buffer, reused
	err     error      // sticky: why writes fail
	closing bool
	sent    chan struct{} // closed when the sender returns

	closeOnce sync.Once
	closeErr  error
}

func newBufferedConn(conn net.Conn) *bufferedConn {
	c := &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBuffer), sent: make(chan struct{})}
	c.wake = sync.NewCond(&c.mu)
	go c.send() // until Close or a failed write
	return c
}

// Read reads through the buffer.
func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// errClosedConn is what a Write after Close returns.
var errClosedConn = errors.New("fleet: use of closed network connection")

// Write queues p for the sender; it waits while maxPending bytes are queued.
func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closing && len(c.pending) > 0 && len(c.pending)+len(p) > maxPending {
		c.wake.Wait()
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closing:
		return 0, errClosedConn
	}
	c.pending = append(c.pending, p...)
	c.wake.Broadcast()
	return len(p), nil
}

// send writes what is pending, all of it at once, until the connection closes or a
// write fails.
func (c *bufferedConn) send() {
	defer close(c.sent)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.pending) == 0 && !c.closing {
			c.wake.Wait()
		}
		if len(c.pending) == 0 { // closing, and all sent
			return
		}
		buf := c.pending
		c.pending = c.spare[:0]
		c.mu.Unlock()
		_, err := c.Conn.Write(buf)
		c.mu.Lock()
		c.spare = buf
		if err != nil {
			c.err = err
			c.pending = nil
			c.wake.Broadcast()
			c.mu.Unlock()
			c.Conn.Close() // paho's reader sees it and reports the connection lost
			c.mu.Lock()
			return
		}
		c.wake.Broadcast()
	}
}

// Close sends what is pending (for at most closeFlush), then closes the connection.
func (c *bufferedConn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.wake.Broadcast()
		c.mu.Unlock()
		_ = c.Conn.SetWriteDeadline(time.Now().Add(closeFlush))
		<-c.sent
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}
