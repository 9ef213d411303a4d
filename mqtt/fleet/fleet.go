// Package fleet is the fleet side of the protocol (docs/protocol.md), the other end of
// each locker's cloud link (mqtt/link), for the simulator, the operator CLI
// (mqtt/fleet/cmd/lockerctl) and as a reference for cloud teams: it signs commands
// with the fleet's Ed25519 key, publishes them and awaits their replies by id
// (re-sending the identical bytes until a final reply or expiry), receives events
// de-duplicated by id, tracks presence, verifies the device MAC every event and reply
// carries (dropping and counting those that fail), anchors each locker's audit chain,
// and computes the digests and verifiers a locker expects (Keys). It speaks only the documented contract (mqtt/protocol,
// docs/protocol.md), so anything it does can be done from another language.
package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/internal/pahostore"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Defaults for the zero values of Config.
const (
	DefaultCommandTTL    = 5 * time.Minute
	DefaultTimeout       = 10 * time.Second
	DefaultResendAfter   = 15 * time.Second
	DefaultEventBuffer   = 100000
	DefaultDedupWindow   = 200000
	DefaultReorderWindow = 30 * time.Second
)

// Sentinel errors; compare with errors.Is.
var (
	// ErrConfig means Dial was given an unusable Config.
	ErrConfig = errors.New("fleet: bad configuration")
	// ErrNoReply means no final reply arrived before the context ended.
	ErrNoReply = errors.New("fleet: no final reply")
	// ErrExpired means the command expired before a final reply arrived.
	ErrExpired = errors.New("fleet: command expired without a final reply")
	// ErrClosed means the Client was closed.
	ErrClosed = errors.New("fleet: client closed")
)

// Config configures a Client. Broker, Topics and, for sending commands,
// SigningKey are required; other zero values mean defaults.
type Config struct {
	Broker string
	// Brokers are more URLs of the same broker (a cluster's nodes): paho tries
	// Broker, then these in turn, at every connect and reconnect.
	Brokers  []string
	ClientID string // default "cloud"
	Username string
	Password string // never logged
	TLS      *tls.Config
	Topics   protocol.Topics

	SigningKey ed25519.PrivateKey // the fleet key; nil makes a read-only client
	KeyID      string             // optional "kid" header

	// Persistent asks the broker to keep the session (and queue events)
	// while this client is away; it needs a stable ClientID.
	Persistent bool

	Now         func() time.Time
	Logger      *slog.Logger
	CommandTTL  time.Duration // exp - iat of new commands
	Timeout     time.Duration // connect, subscribe and publish-ack wait
	ResendAfter time.Duration // re-send an unanswered command after this
	EventBuffer int           // events held for NextEvent before dropping
	DedupWindow int           // event ids remembered for de-duplication
	// ReorderWindow is how long an event that arrived ahead of a missing
	// seq is held back before the gap is given up on.
	ReorderWindow time.Duration
	// LastSeq, if set, returns the last seq already processed for a locker
	// (from the cloud's own store), so ordering resumes across restarts of
	// the cloud; otherwise the first event seen sets the baseline.
	LastSeq func(lockerID string) uint64
	// EventKey returns a locker's event key (Keys.EventKey), nil if the locker is
	// unknown; a key is asked for once per locker (an unknown locker is asked about
	// again at its next message, so the function should be cheap then). When set, every event and reply message is
	// verified (docs/protocol.md §5.3) before it is decoded, and one with a missing or
	// wrong tag, or from a locker with no key, is dropped and counted
	// (EventStats.Unauthenticated, ReplyStats.Unauthenticated), never delivered. Nil
	// turns verification off (a tool without the fleet's X25519 private key); Dial
	// logs that at Info.
	EventKey func(lockerID string) []byte
}

// Client is a connection of the fleet side to the broker. It is safe for
// concurrent use.
type Client struct {
	cfg    Config
	log    *slog.Logger
	client paho.Client

	waitMu  sync.Mutex
	waiters map[string]chan *protocol.Reply

	events      eventState
	tags        *tagVerifier // nil: Config.EventKey not set, nothing verified
	replyCounts replyCounters

	subscribed chan struct{} // closed after the first successful subscribe
	subOnce    sync.Once

	// Events are decoded and ordered by their own goroutine (decodeEvents), not on
	// paho's: paho delivers one message after the other and acknowledges each when
	// its handler returns, so decoding there made the broker wait for every
	// decode (a queued backlog came at a quarter of mosquitto_sub's rate).
	inbound    chan inboundEvent
	stopDecode chan struct{}
	decodeDone chan struct{}
	stopOnce   sync.Once
}

// inboundEvent is an event whose tag was verified, waiting to be decoded.
type inboundEvent struct {
	lockerID string
	payload  []byte
}

// inboundBuffer bounds the events received and not yet decoded; when it is full,
// paho's goroutine waits (and so does the broker's next delivery).
const inboundBuffer = 4096

// decodeBatch bounds the events decodeEvents takes from inbound at a time: those
// already waiting are decoded together (spread over the cores, see decodeAll) and
// then ordered under one hold of the event lock with one wake-up of NextEvent,
// rather than a lock and a wake-up each.
const decodeBatch = 256

// decodeEvents decodes and orders the received events, in their arrival order,
// until stopDecode; then it decodes what was received before and returns.
func (c *Client) decodeEvents() {
	defer close(c.decodeDone)
	raw := make([]inboundEvent, 0, decodeBatch)
	out := make([]decodedEvent, decodeBatch)
	handle := func() {
		evs := out[:len(raw)]
		decodeAll(raw, evs)
		c.events.onDecoded(c.log, evs)
		clear(raw)
		clear(evs)
		raw = raw[:0]
	}
	stopping := false
	for {
		if !stopping {
			select {
			case in := <-c.inbound:
				raw = append(raw, in)
			case <-c.stopDecode:
				stopping = true
			}
		}
	more: // what is already waiting, up to a batch
		for len(raw) < decodeBatch {
			select {
			case in := <-c.inbound:
				raw = append(raw, in)
			default:
				break more
			}
		}
		if len(raw) > 0 {
			handle()
		} else if stopping {
			return
		}
	}
}

// decodeWorkers is how many goroutines decode a batch: one per core, at most 4.
var decodeWorkers = min(runtime.GOMAXPROCS(0), 4)

// minSplit is the smallest share of a batch worth a goroutine of its own.
const minSplit = 32

// decodeAll decodes raw into out (same length, same order), spread over
// decodeWorkers goroutines when the batch is large enough.
func decodeAll(raw []inboundEvent, out []decodedEvent) {
	workers := min(decodeWorkers, len(raw)/minSplit)
	if workers <= 1 {
		for i, in := range raw {
			out[i] = decodeEvent(in.lockerID, in.payload)
		}
		return
	}
	var wg sync.WaitGroup
	share := (len(raw) + workers - 1) / workers
	for from := 0; from < len(raw); from += share {
		to := min(from+share, len(raw))
		wg.Go(func() {
			for i := from; i < to; i++ {
				out[i] = decodeEvent(raw[i].lockerID, raw[i].payload)
			}
		})
	}
	wg.Wait()
}

// stopDecoding ends decodeEvents once what it holds is decoded.
func (c *Client) stopDecoding() {
	c.stopOnce.Do(func() { close(c.stopDecode) })
	<-c.decodeDone
}

// Dial connects to the broker and subscribes to every locker's replies,
// events and presence. It returns once the subscriptions are in place, so
// no reply to a command sent afterwards can be missed.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Broker == "" || cfg.Topics.Prefix() == "" {
		return nil, fmt.Errorf("%w: Broker and Topics are required", ErrConfig)
	}
	if cfg.SigningKey != nil && len(cfg.SigningKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: SigningKey is not an Ed25519 private key", ErrConfig)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "cloud"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for _, d := range []struct {
		p *time.Duration
		v time.Duration
	}{
		{&cfg.CommandTTL, DefaultCommandTTL}, {&cfg.Timeout, DefaultTimeout},
		{&cfg.ResendAfter, DefaultResendAfter}, {&cfg.ReorderWindow, DefaultReorderWindow},
	} {
		if *d.p <= 0 {
			*d.p = d.v
		}
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = DefaultEventBuffer
	}
	if cfg.DedupWindow <= 0 {
		cfg.DedupWindow = DefaultDedupWindow
	}
	c := &Client{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "mqtt-fleet"),
		waiters:    make(map[string]chan *protocol.Reply),
		events:     newEventState(cfg),
		subscribed: make(chan struct{}),
		inbound:    make(chan inboundEvent, inboundBuffer),
		stopDecode: make(chan struct{}),
		decodeDone: make(chan struct{}),
	}
	go c.decodeEvents() // until Close, or Dial's failure
	ok := false
	defer func() {
		if !ok {
			c.stopDecoding()
		}
	}()
	if cfg.EventKey != nil {
		c.tags = newTagVerifier(cfg.EventKey)
	} else {
		c.log.Info("events and replies are not verified: no EventKey (docs/protocol.md §5.3)")
	}
	o := paho.NewClientOptions()
	for _, b := range append([]string{cfg.Broker}, cfg.Brokers...) {
		o.AddBroker(b)
	}
	o.SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetProtocolVersion(4).
		SetCleanSession(!cfg.Persistent).
		SetAutoReconnect(true).
		SetConnectRetry(false).
		SetMaxReconnectInterval(30 * time.Second).
		SetConnectTimeout(cfg.Timeout).
		SetWriteTimeout(cfg.Timeout).
		SetOrderMatters(true).
		// Ordered (paho's default MemoryStore is a map: after a reconnect it
		// would resend unacknowledged publishes in random order) and copying
		// (paho's own stores share packets between resume and the writer, a
		// data race on every reconnect with publishes in flight: ADR 0033).
		SetStore(pahostore.New()).
		SetCustomOpenConnectionFn(c.dial). // buffered reads, coalesced writes (conn.go)
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) { c.log.Warn("mqtt connection lost", "err", err) }).
		SetDefaultPublishHandler(c.onMessage)
	if cfg.Password != "" {
		o.SetPassword(cfg.Password)
	}
	if cfg.TLS != nil {
		o.SetTLSConfig(cfg.TLS)
	}
	c.client = paho.NewClient(o)
	tok := c.client.Connect()
	if !tok.WaitTimeout(cfg.Timeout) {
		c.client.Disconnect(0)
		return nil, fmt.Errorf("fleet: connect to %s timed out", cfg.Broker)
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("fleet: connect to %s: %w", cfg.Broker, err)
	}
	t := time.NewTimer(cfg.Timeout)
	defer t.Stop()
	select {
	case <-c.subscribed:
		ok = true
		return c, nil
	case <-ctx.Done():
		c.client.Disconnect(0)
		return nil, fmt.Errorf("fleet: waiting for subscriptions: %w", ctx.Err())
	case <-t.C:
		c.client.Disconnect(0)
		return nil, errors.New("fleet: subscriptions not acknowledged in time")
	}
}

// onConnect renews the subscriptions after every (re)connect; paho runs it
// in its own goroutine and the wait is bounded.
func (c *Client) onConnect(pc paho.Client) {
	t := c.cfg.Topics
	filters := map[string]byte{
		t.Wildcard(protocol.KindReply):  1,
		t.Wildcard(protocol.KindEvent):  1,
		t.Wildcard(protocol.KindStatus): 1,
	}
	tok := pc.SubscribeMultiple(filters, c.onMessage)
	if !tok.WaitTimeout(c.cfg.Timeout) || tok.Error() != nil {
		c.log.Error("subscribe failed", "err", tok.Error())
		return
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code > 2 {
				c.log.Error("broker refused a subscription", "filter", f, "code", code)
				return
			}
		}
	}
	c.subOnce.Do(func() { close(c.subscribed) })
}

// onMessage dispatches by topic kind. It runs on paho's router goroutine and
// blocks only while decodeEvents is inboundBuffer events behind.
func (c *Client) onMessage(_ paho.Client, m paho.Message) {
	lockerID, kind, err := c.cfg.Topics.Parse(m.Topic())
	if err != nil {
		c.log.Warn("message on an unexpected topic", "topic", m.Topic())
		return
	}
	switch kind {
	case protocol.KindReply:
		payload, err := c.tags.verify(lockerID, kind, m.Payload())
		if err != nil {
			c.dropped(lockerID, kind, err)
			return
		}
		c.onReply(lockerID, payload)
	case protocol.KindEvent:
		payload, err := c.tags.verify(lockerID, kind, m.Payload())
		if err != nil {
			c.dropped(lockerID, kind, err)
			return
		}
		select {
		case c.inbound <- inboundEvent{lockerID, payload}:
		case <-c.stopDecode: // closing: what comes now is not read
		}
	case protocol.KindStatus:
		c.events.onPresence(c.log, lockerID, m.Payload())
	}
}

func (c *Client) onReply(lockerID string, payload []byte) {
	c.replyCounts.messages.Add(1)
	rs, err := protocol.DecodeReplies(payload)
	if err != nil { // rs still holds the replies of an array that did decode
		c.replyCounts.invalid.Add(1)
		c.log.Warn("invalid reply ignored", "locker", lockerID, "err", err)
	}
	for _, r := range rs {
		c.waitMu.Lock()
		ch := c.waiters[lockerID+"/"+r.ID]
		c.waitMu.Unlock()
		if ch == nil {
			continue // a reply nobody waits for (e.g. to another cloud instance)
		}
		select {
		case ch <- r:
		default:
			c.log.Warn("reply dropped: waiter not keeping up", "locker", lockerID, "id", r.ID)
		}
	}
}

// Close disconnects. NextEvent and AwaitPresence return ErrClosed; pending
// Sends fail when their context ends or the command expires.
func (c *Client) Close() {
	c.client.Disconnect(250)
	c.stopDecoding() // what was received is still handed out by NextEvent
	c.events.close()
}
