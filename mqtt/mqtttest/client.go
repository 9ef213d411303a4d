package mqtttest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

var clientSeq atomic.Int64

// Connect connects a plain paho client for a test to the broker at url (a Broker's
// URL or TLSURL, or any other broker on loopback) as user with password pass, over
// TLS when tlsCfg is set. The client has a unique id, no automatic reconnect and a
// clean session unless adjust says otherwise, and is disconnected when the test ends.
// A refusal or a timeout is returned, for tests of refusals; MustConnect fails the
// test instead.
func Connect(t testing.TB, url, user, pass string, tlsCfg *tls.Config, adjust ...func(*paho.ClientOptions)) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).
		SetClientID(fmt.Sprintf("%s-%d", user, clientSeq.Add(1))).
		SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetCleanSession(true)
	if tlsCfg != nil {
		o.SetTLSConfig(tlsCfg)
	}
	for _, f := range adjust {
		f(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// MustConnect is Connect that fails the test when the client cannot connect.
func MustConnect(t testing.TB, url, user, pass string, tlsCfg *tls.Config, adjust ...func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	c, err := Connect(t, url, user, pass, tlsCfg, adjust...)
	if err != nil {
		t.Fatalf("mqtttest: connect as %s: %v", user, err)
	}
	return c
}
