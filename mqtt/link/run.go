package link

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lockerd/lockerd/mqtt/internal/pahostore"
	"github.com/lockerd/lockerd/mqtt/jws"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// ErrRunning is returned by Run when the Link is already running or has run.
var ErrRunning = errors.New("link: Run may be called only once")

// Link is a running cloud link. Create it with New and start it with Run.
type Link struct {
	cfg    Config
	log    *slog.Logger
	verify verifier
	queue  *queue
	conn   connState
	// brokers is which of the cluster's nodes failed lately (brokers.go).
	brokers *brokerSet
	// reassert asks presenceKeeper to publish the birth again (presence.go).
	reassert chan struct{}
	// rebirth asks presenceKeeper to publish the birth again for a new health summary.
	rebirth chan struct{}
	// health is the summary the birth carries (SetPresenceHealth); published is the
	// one the last acknowledged birth carried. Neither is ever modified once set.
	healthMu          sync.Mutex
	health, published *protocol.PresenceHealth
	lost              chan error       // connection lost, or subscription failed: reconnect
	busy              chan busyRefusal // commands refused for lack of queue room
	ran               atomic.Bool
	// stopping is set once Run's context has ended: commands that arrive from then
	// on are refused "shutting_down" at once instead of queued.
	stopping atomic.Bool
	stats    counters

	cmdTopic, replyTopic, eventTopic, statusTopic string

	client    paho.Client // set by Run before any goroutine starts
	verifying atomic.Bool // commandVerifier is verifying a batch (commandWorker's hint)
}

// New validates cfg, fills in defaults and returns a Link ready to Run.
func New(cfg Config) (*Link, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	keys, err := jws.NewKeys(cfg.FleetKeys...)
	if err != nil {
		return nil, fmt.Errorf("link: FleetKeys: %w", err)
	}
	t := cfg.Topics
	return &Link{
		cfg: cfg,
		log: cfg.Logger.With("component", "mqtt-link", "locker", cfg.LockerID),
		verify: verifier{
			lockerID: cfg.LockerID, keys: keys, maxSize: cfg.MaxCommandSize,
			maxSkew: cfg.MaxSkew, maxLifetime: cfg.MaxLifetime,
		},
		queue:       newQueue(cfg.QueueBytes, cfg.QueueLen),
		conn:        newConnState(),
		brokers:     newBrokerSet(cfg.urls(), cfg.MaxBackoff),
		reassert:    make(chan struct{}, 1),
		rebirth:     make(chan struct{}, 1),
		lost:        make(chan error, 1),
		busy:        make(chan busyRefusal, maxBusy),
		cmdTopic:    t.Command(cfg.LockerID),
		replyTopic:  t.Reply(cfg.LockerID),
		eventTopic:  t.Event(cfg.LockerID),
		statusTopic: t.Status(cfg.LockerID),
	}, nil
}

// Run connects, keeps the link up and serves commands and events until ctx
// ends. It then refuses queued commands ("shutting_down"), publishes the
// offline presence and disconnects. A cancelled ctx is a clean stop: Run
// returns nil. Every goroutine Run starts has stopped when it returns.
func (l *Link) Run(ctx context.Context) error {
	if !l.ran.CompareAndSwap(false, true) {
		return ErrRunning
	}
	will, err := protocol.EncodePresence(&protocol.Presence{
		State: protocol.Offline, Boot: l.cfg.Boot, Version: l.cfg.Version, Reason: protocol.PresenceLost,
	})
	if err != nil {
		return fmt.Errorf("link: encode last will: %w", err)
	}
	l.client = paho.NewClient(l.options(will))
	// The route exists before the first connect: a persistent session may
	// deliver queued commands before the subscription is renewed.
	l.client.AddRoute(l.cmdTopic, l.onMessage)

	workCtx, stopWork := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	start := func(f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(workCtx)
		}()
	}
	// Room for a whole run of verified batches: while the worker commits, the
	// verifier fills the next run instead of waiting for it (ADR 0031).
	verified := make(chan verifiedBatch, maxAtomicRun/verifyBatch)
	start(func(ctx context.Context) { l.commandVerifier(ctx, verified) })
	start(func(ctx context.Context) { l.commandWorker(ctx, verified) })
	start(l.busyResponder)
	start(l.eventPublisher)
	start(l.presenceKeeper)

	l.connectionLoop(ctx)

	l.stopping.Store(true)
	stopWork()
	wg.Wait()
	// A command pushed after the verifier last looked is still queued: answer it.
	for _, payload := range l.queue.close() {
		l.refuse(peekJWSID(payload), protocol.CommandRef(payload), protocol.ReasonShuttingDown, stoppingDetail)
	}
	l.drainBusy() // refusals of commands that arrived while the workers stopped
	l.goOffline()
	return nil
}

func (l *Link) options(will []byte) *paho.ClientOptions {
	o := paho.NewClientOptions()
	for _, b := range l.cfg.urls() {
		o.AddBroker(b)
	}
	o.SetClientID(l.cfg.ClientID).
		SetUsername(l.cfg.Username).
		SetProtocolVersion(4).
		// A persistent session keeps commands the cloud sends while the
		// device is offline; our own outbox, not paho's store, is what makes
		// events durable.
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(l.cfg.Timeout).
		SetWriteTimeout(l.cfg.Timeout).
		SetPingTimeout(l.cfg.Timeout).
		SetKeepAlive(l.cfg.KeepAlive).
		SetOrderMatters(true).
		// Ordered (paho's default MemoryStore is a map: after a reconnect it
		// would resend unacknowledged publishes in random order) and copying
		// (paho's own stores share packets between resume and the writer, a
		// data race on every reconnect with publishes in flight: ADR 0033).
		SetStore(pahostore.New()).
		SetBinaryWill(l.statusTopic, will, 1, true).
		SetCustomOpenConnectionFn(l.dial).
		SetConnectionLostHandler(l.onConnectionLost).
		SetDefaultPublishHandler(l.onUnexpected)
	if l.cfg.Password != "" {
		o.SetPassword(l.cfg.Password)
	}
	// No SetTLSConfig: dial, the link's own, does the TLS handshake with l.cfg.TLS.
	return o
}

// connectionLoop connects, waits for the connection to drop, backs off and
// reconnects, until ctx ends.
func (l *Link) connectionLoop(ctx context.Context) {
	bo := newBackoff(l.cfg.MinBackoff, l.cfg.MaxBackoff)
	for ctx.Err() == nil {
		err := l.connect()
		if err == nil {
			err = l.announce()
			if err != nil {
				l.client.Disconnect(0)
			}
		}
		if err != nil {
			l.brokers.lost()
			d := bo.next()
			l.log.Warn("mqtt connect failed", "err", err, "retry_in", d)
			sleep(ctx, d)
			continue
		}
		up := time.Now()
		l.brokers.connected()
		l.conn.set(true)
		l.log.Info("mqtt connected", "broker", l.brokers.current())
		select {
		case <-ctx.Done():
			return // Run publishes the offline presence and disconnects
		case err := <-l.lost:
			l.conn.set(false)
			l.brokers.lost()
			if l.client.IsConnectionOpen() {
				l.client.Disconnect(0)
			}
			if time.Since(up) > l.cfg.MaxBackoff {
				bo.reset() // it was a stable connection, not a flapping one
			}
			d := bo.next()
			l.log.Warn("mqtt connection lost", "err", err, "retry_in", d)
			sleep(ctx, d)
		}
	}
}

// connect makes one attempt. The wait is bounded by the connect timeout
// and deliberately not by ctx: abandoning a pending attempt would leave a
// connection that nobody closes.
func (l *Link) connect() error {
	tok := l.client.Connect()
	if !tok.WaitTimeout(l.cfg.Timeout + time.Second) {
		l.client.Disconnect(0)
		return errors.New("link: connect timed out")
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("link: connect: %w", err)
	}
	return nil
}

// announce runs after every successful connect: it renews the
// subscription (paho does not restore it) and then publishes the retained
// birth message, so a cloud that sees "online" can send commands.
//
// This is what paho's OnConnect handler is usually for, but paho starts
// OnConnect before it replays its persistent-session store (resume), and a
// publish made there is replayed while still being written (a data race
// and a duplicate, found by -race). Connect's token completes only after
// the replay, and the link owns its reconnects, so it does this here.
func (l *Link) announce() error {
	st := l.client.Subscribe(l.cmdTopic, 1, l.onMessage)
	if !st.WaitTimeout(l.cfg.Timeout) {
		return fmt.Errorf("link: subscribe %s: no SUBACK within %v", l.cmdTopic, l.cfg.Timeout)
	}
	if err := st.Error(); err != nil {
		return fmt.Errorf("link: subscribe %s: %w", l.cmdTopic, err)
	}
	if sub, ok := st.(*paho.SubscribeToken); ok && sub.Result()[l.cmdTopic] > 2 {
		return fmt.Errorf("link: broker refused the subscription to %s (code %#x)", l.cmdTopic, sub.Result()[l.cmdTopic])
	}
	// Its own status topic too: a late Last Will that overwrites the birth is
	// answered with the birth again (presence.go). A broker that refuses the
	// subscription leaves the link without that guard, not without a link.
	if ps := l.client.Subscribe(l.statusTopic, 1, l.onOwnPresence); !ps.WaitTimeout(l.cfg.Timeout) || ps.Error() != nil {
		l.log.Warn("subscription to the own status topic failed: a late Last Will would stand", "err", ps.Error())
	}
	return l.publishBirth()
}

// publishBirth publishes the retained "online" presence of this boot and waits for
// the broker's acknowledgement.
func (l *Link) publishBirth() error {
	l.healthMu.Lock()
	health := l.health
	l.healthMu.Unlock()
	birth, err := protocol.EncodePresence(&protocol.Presence{
		State: protocol.Online, Boot: l.cfg.Boot, Version: l.cfg.Version, Time: l.cfg.Now().UTC(),
		Health: health,
	})
	if err != nil {
		return fmt.Errorf("link: encode birth message: %w", err)
	}
	if pt := l.client.Publish(l.statusTopic, 1, true, birth); !pt.WaitTimeout(l.cfg.Timeout) || pt.Error() != nil {
		return fmt.Errorf("link: birth message not acknowledged: %v", pt.Error())
	}
	l.healthMu.Lock()
	l.published = health
	l.healthMu.Unlock()
	return nil
}

func (l *Link) onConnectionLost(_ paho.Client, err error) { l.reconnect(err) }

// reconnect asks the connection loop to drop and rebuild the connection.
func (l *Link) reconnect(err error) {
	select {
	case l.lost <- err:
	default: // a reconnect is already pending
	}
}

func (l *Link) onUnexpected(_ paho.Client, m paho.Message) {
	l.log.Warn("message on unexpected topic ignored", "topic", m.Topic())
}

// goOffline publishes the retained offline presence (a clean disconnect
// does not fire the Last Will) and disconnects.
func (l *Link) goOffline() {
	if l.client.IsConnected() {
		off, err := protocol.EncodePresence(&protocol.Presence{
			State: protocol.Offline, Boot: l.cfg.Boot, Version: l.cfg.Version,
			Time: l.cfg.Now().UTC(), Reason: protocol.PresenceShutdown,
		})
		if err == nil {
			if t := l.client.Publish(l.statusTopic, 1, true, off); !t.WaitTimeout(l.cfg.Timeout) || t.Error() != nil {
				l.log.Warn("offline presence not acknowledged", "err", t.Error())
			}
		}
	}
	l.conn.set(false)
	l.drainBusy() // commands that arrived while going offline
	l.client.Disconnect(250)
	l.log.Info("mqtt link stopped")
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
