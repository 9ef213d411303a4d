// Package brokerdial opens the TCP connection to an MQTT broker that paho's custom
// open-connection hook (SetCustomOpenConnectionFn) returns, for the device side
// (mqtt/link) and the fleet side (mqtt/fleet) alike: through a proxy the environment
// names (ALL_PROXY, NO_PROXY), as paho does for tcp, and for TLS too; over TLS when
// secure, with ServerName from the broker's host when the configuration has none.
// Each side wraps the connection in its own buffering.
package brokerdial

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"time"

	"golang.org/x/net/proxy"
)

// Dial connects to uri's host; with secure, it completes a TLS handshake under cfg
// (nil: TLS 1.2 at least, the system's roots). Dialling and the handshake together are
// bounded by timeout.
func Dial(uri *url.URL, secure bool, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
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
	if err != nil || !secure {
		return conn, err
	}
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
	return tc, nil
}
