// Package link is the device side of the cloud link: an MQTT client (paho)
// that keeps a locker connected to its broker, announces its presence,
// receives signed commands, verifies them against the pinned fleet key,
// de-duplicates them through a durable CommandLog, hands them to a Handler
// and answers every one of them, and publishes the events of a durable
// Outbox in order, removing each only after the broker acknowledged it.
//
// Commands go from paho's message handler into an in-memory queue and are
// processed by one worker goroutine, so the handler never blocks; paho's own
// reconnect is off and the link reconnects itself with jittered exponential
// backoff, so a fleet does not reconnect in lock-step after a broker restart.
package link

import (
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/lockerd/lockerd/mqtt/jws"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxSkew        = 5 * time.Minute
	DefaultTimeout        = 10 * time.Second
	DefaultHandleTimeout  = 30 * time.Second
	DefaultKeepAlive      = 30 * time.Second
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = 2 * time.Minute
	DefaultQueueBytes     = 8 << 20
	DefaultQueueLen       = 20000
	DefaultOutboxBatch    = 64
	DefaultOutboxInterval = 30 * time.Second
)

// ErrConfig is wrapped by every configuration error from New.
var ErrConfig = errors.New("link: bad configuration")

// Config configures a Link. Fields marked required must be set; the zero
// value of any other field means its default.
type Config struct {
	Broker string // required: "tcp://host:1883", "ssl://host:8883", ...
	// Brokers are more URLs of the same broker (the nodes of a cluster), tried after
	// Broker in turn: the link moves to the next when one refuses or drops it, and
	// skips for a while one that failed (brokers.go).
	Brokers  []string
	LockerID string // required: this locker's id (protocol.ValidLockerID)
	Topics   protocol.Topics
	ClientID string // default: LockerID
	Username string // default: LockerID (the broker's ACLs key on it)
	Password string // optional; never logged
	TLS      *tls.Config

	// FleetKeys are the pinned Ed25519 keys commands must be signed with
	// (more than one during a key rotation). Required.
	FleetKeys []ed25519.PublicKey

	// EventKey is the locker's event key (privacy.KeyStore.EventKey, 32 bytes): every
	// event and reply message carries its MAC (docs/protocol.md §5.3). Required.
	EventKey []byte

	Boot    string // required: id of this start, changes every boot
	Version string // required: firmware version

	Handler  Handler    // required
	Commands CommandLog // required
	Outbox   Outbox     // required

	Now    func() time.Time // default: time.Now
	Logger *slog.Logger     // default: slog.Default()

	MaxCommandSize int // default jws.DefaultMaxSize
	// MaxPacketSize bounds every packet read from the broker (remaining length):
	// a larger one cuts the connection before it is allocated. Default twice
	// MaxCommandSize, so a command somewhat over MaxCommandSize is still read and
	// refused with a reply; at least MaxCommandSize + 1 KiB.
	MaxPacketSize  int
	MaxSkew        time.Duration // how far iat may lie in the future
	MaxLifetime    time.Duration // longest exp - iat; default protocol.MaxLifetime
	Timeout        time.Duration // connect, subscribe and publish-ack wait
	HandleTimeout  time.Duration // context deadline given to Handler
	KeepAlive      time.Duration
	MinBackoff     time.Duration // first reconnect delay
	MaxBackoff     time.Duration // reconnect delay ceiling
	QueueBytes     int           // command bytes buffered before refusing "busy"
	QueueLen       int           // commands buffered before refusing "busy"
	OutboxBatch    int           // events published per round
	OutboxInterval time.Duration // outbox poll when Wake stays silent
}

// brokerSchemes are the broker URL schemes the link dials (dial.go); true for TLS.
var brokerSchemes = map[string]bool{"tcp": false, "mqtt": false, "ssl": true, "tls": true, "mqtts": true}

func knownScheme(s string) bool { _, ok := brokerSchemes[s]; return ok }

func (c *Config) setDefaults() error {
	var errs []error
	need := func(ok bool, what string) {
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %s", ErrConfig, what))
		}
	}
	need(c.Broker != "", "Broker is required")
	for _, b := range c.urls() {
		if u, err := url.Parse(b); b != "" && (err != nil || !knownScheme(u.Scheme) || u.Host == "") {
			need(false, fmt.Sprintf("broker %q must be scheme://host:port with scheme tcp, mqtt, ssl, tls or mqtts", b))
		}
	}
	need(protocol.ValidLockerID(c.LockerID) == nil, "LockerID must be a valid locker id")
	need(c.Topics.Prefix() != "", "Topics is required (protocol.NewTopics)")
	need(len(c.FleetKeys) > 0, "FleetKeys is required")
	for _, k := range c.FleetKeys {
		need(len(k) == ed25519.PublicKeySize, "every fleet key must be an Ed25519 public key")
	}
	need(len(c.EventKey) == 32, "EventKey must be the 32-byte event key")
	need(protocol.ValidID(c.Boot), "Boot must be an id")
	need(protocol.ValidID(c.Version), "Version must be an id")
	need(c.Handler != nil, "Handler is required")
	need(c.Commands != nil, "Commands is required")
	need(c.Outbox != nil, "Outbox is required")
	if err := errors.Join(errs...); err != nil {
		return err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(i *int, v int) {
		if *i <= 0 {
			*i = v
		}
	}
	if c.ClientID == "" {
		c.ClientID = c.LockerID
	}
	if c.Username == "" {
		c.Username = c.LockerID
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	defInt(&c.MaxCommandSize, jws.DefaultMaxSize)
	defInt(&c.MaxPacketSize, 2*c.MaxCommandSize)
	if c.MaxPacketSize < c.MaxCommandSize+1<<10 {
		return fmt.Errorf("%w: MaxPacketSize %d is less than MaxCommandSize + 1 KiB (topic and header room)", ErrConfig, c.MaxPacketSize)
	}
	def(&c.MaxSkew, DefaultMaxSkew)
	def(&c.MaxLifetime, protocol.MaxLifetime)
	def(&c.Timeout, DefaultTimeout)
	def(&c.HandleTimeout, DefaultHandleTimeout)
	def(&c.KeepAlive, DefaultKeepAlive)
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	defInt(&c.QueueBytes, DefaultQueueBytes)
	defInt(&c.QueueLen, DefaultQueueLen)
	defInt(&c.OutboxBatch, DefaultOutboxBatch)
	def(&c.OutboxInterval, DefaultOutboxInterval)
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	return nil
}
