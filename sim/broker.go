package sim

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// CloudUser is the broker account of the simulated cloud.
const CloudUser = "cloud"

// Broker is the simulator's embedded MQTT broker (mochi-mqtt) on a loopback port. It
// enforces what docs/protocol.md §1 asks of any broker: an account per locker, named by
// its locker id, that may only read its own command topic and write its own reply,
// event and status topics; a cloud account for everything under the prefix.
type Broker struct {
	srv    *mqtt.Server
	tcp    *listeners.TCP
	topics protocol.Topics

	mu        sync.Mutex
	passwords map[string]string
}

// StartBroker starts the broker on 127.0.0.1 on a free port, with the cloud account's
// password made up on the spot (CloudPassword).
func StartBroker(log *slog.Logger) (*Broker, error) {
	b := &Broker{topics: protocol.MustTopics(config.DefaultTopicPrefix), passwords: map[string]string{}}
	b.passwords[CloudUser] = randomSecret()
	// mochi logs every closed connection as a warning; only its errors are news here.
	quiet := slog.New(minLevel{log.Handler(), slog.LevelError}).With("unit", "broker")
	b.srv = mqtt.New(&mqtt.Options{Logger: quiet})
	if err := b.srv.AddHook(&brokerACL{b: b}, nil); err != nil {
		return nil, fmt.Errorf("sim: broker: %w", err)
	}
	b.tcp = listeners.NewTCP(listeners.Config{ID: "loopback", Address: "127.0.0.1:0"})
	if err := b.srv.AddListener(b.tcp); err != nil {
		return nil, fmt.Errorf("sim: broker: %w", err)
	}
	if err := b.srv.Serve(); err != nil {
		return nil, fmt.Errorf("sim: broker: %w", err)
	}
	return b, nil
}

// URL is the broker's address for paho and lockerd ("tcp://127.0.0.1:port").
func (b *Broker) URL() string { return "tcp://" + b.tcp.Address() }

// CloudPassword is the cloud account's password.
func (b *Broker) CloudPassword() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.passwords[CloudUser]
}

// AddLocker creates the account of a locker and writes its password to a file (mode
// 0600) in dir, returning the mqtt config section that connects lockerd with it.
func (b *Broker) AddLocker(lockerID, dir string) (config.MQTT, error) {
	if err := protocol.ValidLockerID(lockerID); err != nil {
		return config.MQTT{}, fmt.Errorf("sim: broker: %w", err)
	}
	pw := randomSecret()
	file := filepath.Join(dir, "mqtt-password")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return config.MQTT{}, fmt.Errorf("sim: %w", err)
	}
	if err := writeSecret(file, []byte(pw+"\n")); err != nil { // fresh at 0600, even over a reused -dir
		return config.MQTT{}, fmt.Errorf("sim: %w", err)
	}
	b.mu.Lock()
	b.passwords[lockerID] = pw
	b.mu.Unlock()
	return config.MQTT{Broker: b.URL(), PasswordFile: file}, nil
}

// Close stops the broker and disconnects every client.
func (b *Broker) Close() error { return b.srv.Close() }

// minLevel drops records below its level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

// Enabled implements slog.Handler.
func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

// WithAttrs implements slog.Handler.
func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.level}
}

// WithGroup implements slog.Handler.
func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}

// randomSecret is a password for an account of this run only.
func randomSecret() string {
	var p [16]byte
	if _, err := rand.Read(p[:]); err != nil {
		panic("sim: no randomness: " + err.Error())
	}
	return hex.EncodeToString(p[:])
}

// brokerACL authenticates by user name and password and applies the per-locker ACL.
type brokerACL struct {
	mqtt.HookBase
	b *Broker
}

// ID implements mqtt.Hook.
func (h *brokerACL) ID() string { return "locker-acl" }

// Provides implements mqtt.Hook.
func (h *brokerACL) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// OnConnectAuthenticate implements mqtt.Hook.
func (h *brokerACL) OnConnectAuthenticate(_ *mqtt.Client, pk packets.Packet) bool {
	h.b.mu.Lock()
	want, ok := h.b.passwords[string(pk.Connect.Username)]
	h.b.mu.Unlock()
	return ok && subtle.ConstantTimeCompare([]byte(want), pk.Connect.Password) == 1
}

// OnACLCheck implements mqtt.Hook: topic is a topic name, or a filter for a
// subscription.
func (h *brokerACL) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	prefix := h.b.topics.Prefix() + "/"
	if user == CloudUser {
		return len(topic) > len(prefix) && topic[:len(prefix)] == prefix
	}
	lockerID, kind, err := h.b.topics.Parse(topic)
	if err != nil || lockerID != user {
		return false
	}
	switch kind {
	case protocol.KindCommand:
		return !write
	case protocol.KindReply, protocol.KindEvent:
		return write
	}
	return kind == protocol.KindStatus
}
