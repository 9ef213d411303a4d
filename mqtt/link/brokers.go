package link

import (
	"errors"
	"net/url"
	"sync"
	"time"
)

// urls is Broker followed by Brokers.
func (c *Config) urls() []string {
	return append([]string{c.Broker}, c.Brokers...)
}

// errSkipped is dial's answer for a broker skipped because it failed recently.
var errSkipped = errors.New("link: broker skipped: it failed recently and another is untried")

// brokerSet keeps which of the link's brokers (the nodes of one cluster) failed
// recently. paho tries every broker in the order given, at every connect, always
// from the first; dial asks allow before dialling, so that a node that refused,
// timed out or dropped the link is skipped for skipFor while another has not failed.
// A dead first node then costs one connect timeout per skipFor, not one per attempt,
// and after a node's death the link moves to the next one at once. With every
// broker failed recently, all are tried again.
// A nil *brokerSet allows every broker and records nothing.
type brokerSet struct {
	mu      sync.Mutex
	keys    []string
	failed  map[string]time.Time
	dialled string // the broker of the newest connection dial opened
	skipFor time.Duration
	now     func() time.Time
}

func newBrokerSet(urls []string, skipFor time.Duration) *brokerSet {
	b := &brokerSet{failed: map[string]time.Time{}, skipFor: skipFor, now: time.Now}
	for _, u := range urls {
		if p, err := url.Parse(u); err == nil {
			b.keys = append(b.keys, brokerKey(p))
		}
	}
	return b
}

// brokerKey names a broker as paho hands it to dial.
func brokerKey(u *url.URL) string { return u.Scheme + "://" + u.Host }

// allow reports whether dial should try key now.
func (b *brokerSet) allow(key string) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.recent(key) {
		return true
	}
	for _, k := range b.keys {
		if !b.recent(k) {
			return false // another broker has not failed lately: paho tries it next
		}
	}
	return true
}

func (b *brokerSet) recent(key string) bool {
	t, ok := b.failed[key]
	return ok && b.now().Sub(t) < b.skipFor
}

// fail records that key refused, timed out or dropped the connection.
func (b *brokerSet) fail(key string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failed[key] = b.now()
}

// dial records that a connection to key is open (the MQTT handshake follows).
func (b *brokerSet) dial(key string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dialled = key
}

// connected records that the MQTT handshake with the broker dialled last succeeded.
func (b *brokerSet) connected() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.failed, b.dialled)
}

// lost records that the connection to the broker dialled last failed after dial
// (refused at CONNECT, or dropped later): the next connect starts with another.
func (b *brokerSet) lost() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dialled != "" {
		b.failed[b.dialled] = b.now()
	}
}

// current is the broker dialled last.
func (b *brokerSet) current() string {
	if b == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dialled
}
