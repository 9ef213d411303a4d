package firmware

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// cloudLink is lockerd's side of the cloud link (docs/protocol.md): the mqtt/link client
// with the station behind its Handler, CommandLog and Outbox, plus the reporter of
// hardware and periodic health events. run.go starts it when mqtt.broker is set.
type cloudLink struct {
	link    *link.Link
	outbox  *wireOutbox
	health  *healthReporter
	boot    string
	log     *slog.Logger
	started time.Time
}

// newCloudLink builds the link from the config; nothing connects until run.
func newCloudLink(cfg *config.Config, st *locker.Station, hw *Hardware, identity string, log *slog.Logger) (*cloudLink, error) {
	m := &cfg.MQTT
	topics, err := protocol.NewTopics(m.Prefix())
	if err != nil {
		return nil, fmt.Errorf("firmware: mqtt: %w", err)
	}
	fleet, err := fleetKey(cfg.Fleet.Ed25519Public)
	if err != nil {
		return nil, err
	}
	password, tlsCfg, err := linkFiles(m)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	boot := newBootID()
	c := &cloudLink{boot: boot, log: log, started: started}
	c.outbox = newWireOutbox(st, log)
	limit := newRateLimiter(m.Limit().Max, m.Limit().Per)
	// The remote openings of the last period count after a restart too: the audit log
	// has them. A damaged log does not stop the station: what cannot be read counts.
	if limit.times, err = st.RemoteOpensSince(started.Add(-m.Limit().Per)); err != nil {
		log.Error("remote-open rate limit: audit log partly unreadable; unreadable entries count as openings", "err", err)
	}
	handler := &commandHandler{
		st: st, drivers: hw.Health, boot: boot, version: wireVersion(Version), identity: identity, outbox: c.outbox.pending, started: started,
		limit: limit, now: time.Now, log: log,
	}
	c.health = &healthReporter{st: st, drivers: hw.Health, every: m.Health(), stateDir: cfg.StateDir, outbox: c.outbox.pending,
		started: started, log: log}
	c.link, err = link.New(link.Config{
		Broker: m.Broker, LockerID: cfg.LockerID, Topics: topics, Username: m.Username, Password: password,
		TLS: tlsCfg, FleetKeys: []ed25519.PublicKey{fleet}, Boot: boot, Version: handler.version,
		Handler: handler, Commands: commandLog{st}, Outbox: c.outbox, Logger: log,
		MaxBackoff: m.ReconnectMax,
	})
	if err != nil {
		return nil, fmt.Errorf("firmware: mqtt: %w", err)
	}
	return c, nil
}

// run keeps the link up and reports health until ctx ends; a cancelled ctx is a clean
// stop (nil). Both goroutines it starts have returned when it does.
func (c *cloudLink) run(ctx context.Context) error {
	c.log.Info("cloud link starting", "boot", c.boot)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.health.run(ctx)
	}()
	err := c.link.Run(ctx)
	wg.Wait()
	if ferr := c.outbox.flush(); ferr != nil && !errors.Is(ferr, locker.ErrClosed) {
		c.log.Warn("outbox acknowledgements not stored; those events will be sent again", "err", ferr)
	}
	return err
}

func fleetKey(hexKey string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(hexKey)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("firmware: fleet.ed25519_public is not a 32-byte hex key")
	}
	return ed25519.PublicKey(b), nil
}

// CheckCloudLinkFiles reads the files the mqtt section names (password, CA,
// client certificate and key) as the cloud link would at start, with its checks
// (a key or password file readable by others is refused): `lockerd check` runs
// it so that a problem shows before the link would run without them.
func CheckCloudLinkFiles(cfg *config.Config) error {
	if !cfg.MQTT.Enabled() {
		return nil
	}
	_, _, err := linkFiles(&cfg.MQTT)
	return err
}

// linkFiles reads the password and builds the TLS configuration (nil without TLS) the
// mqtt section names, with their checks (firmware/config, mqtt/clientconf).
func linkFiles(m *config.MQTT) (password string, tlsCfg *tls.Config, err error) {
	if password, err = m.ReadPassword(); err != nil {
		return "", nil, fmt.Errorf("firmware: mqtt: %w", err)
	}
	if tlsCfg, err = m.TLSConfig(); err != nil {
		return "", nil, fmt.Errorf("firmware: %w", err)
	}
	return password, tlsCfg, nil
}

// newBootID names this start: presence and status carry it, so the cloud can tell a
// restart from a reconnect.
func newBootID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("firmware: no randomness") // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// wireVersion makes the build's version string a protocol id (git describe output
// usually is one already).
func wireVersion(v string) string {
	out := strings.Map(func(r rune) rune {
		if r < 128 && (r == '.' || r == '_' || r == ':' || r == '-' ||
			'0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return r
		}
		return '_'
	}, v)
	if len(out) > protocol.MaxIDLen {
		out = out[:protocol.MaxIDLen]
	}
	if out == "" {
		out = "unknown"
	}
	return out
}
