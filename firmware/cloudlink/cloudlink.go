// Package cloudlink is lockerd's adapter between the cloud link (mqtt/link, the device
// side of docs/protocol.md) and the station (locker): it implements the link's Handler
// and AtomicHandler over the station's operations and its Outbox over the station's
// outbox; it keeps the command log (commandlog.go) in the station's store, one station
// transition per command run (docs/adr/0045-command-log-in-the-adapter.md); and it owns
// the mapping of station events to wire events (docs/adr/0026-station-events-on-the-wire.md).
// It also records the hardware and periodic health reports the link publishes as
// events. Reading the configuration and its secret files stays with firmware, which
// hands New what it read (docs/adr/0040-cloudlink-adapter-package.md).
package cloudlink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/store"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Driver is one hardware driver's state in the protocol's words, as status replies,
// hardware events and health events report it.
type Driver struct {
	Name     string          // the driver's id; a name that is not a protocol id is not reported
	Health   protocol.Health // ok, failed or unknown
	Code     string          // short machine-readable cause ("" when ok)
	Starting bool            // loaded, no report yet: its first report decides, until then no news
}

// Config is what New needs. Link holds the connection (broker, locker id, topics,
// credentials, TLS, fleet keys, reconnect ceiling); New fills in its Boot, Version,
// Handler, Commands, Outbox and Logger.
type Config struct {
	Link     link.Config
	Station  *locker.Station
	Drivers  func() []Driver // the drivers' current states
	Version  string          // the build's version; made a protocol id
	Identity string          // the device's X25519 public key, hex
	// RemoteOpens openings of a compartment by command are allowed in any window of
	// RemoteOpensPer.
	RemoteOpens    int
	RemoteOpensPer time.Duration
	HealthEvery    time.Duration // how often a health event is recorded
	StateDir       string        // whose file system's free space health events report
	Updates        Updates       // runs update commands; nil: they are refused not_supported
	Logger         *slog.Logger
}

// Link is lockerd's side of the cloud link: the mqtt/link client with the station
// behind its Handler, CommandLog and Outbox, plus the reporter of hardware and
// periodic health events.
type Link struct {
	link    *link.Link
	handler *commandHandler
	outbox  *wireOutbox
	health  *healthReporter
	boot    string
	log     *slog.Logger
	started time.Time
}

// New builds the link; nothing connects until Run.
func New(cfg Config) (*Link, error) {
	st, log := cfg.Station, cfg.Logger
	started := time.Now()
	boot := newBootID()
	c := &Link{boot: boot, log: log, started: started}
	c.outbox = newWireOutbox(st, log)
	limit := newRateLimiter(cfg.RemoteOpens, cfg.RemoteOpensPer)
	// The remote openings of the last period count after a restart too: the audit log
	// has them. A damaged log does not stop the station: what cannot be read counts.
	var err error
	if limit.times, err = st.RemoteOpensSince(started.Add(-cfg.RemoteOpensPer)); err != nil {
		log.Error("remote-open rate limit: audit log partly unreadable; unreadable entries count as openings", "err", err)
	}
	handler := &commandHandler{
		st: st, drivers: cfg.Drivers, boot: boot, version: wireVersion(cfg.Version), identity: cfg.Identity,
		outbox: c.outbox.pending, started: started, limit: limit, now: time.Now, log: log,
		updates: cfg.Updates,
	}
	c.handler = handler
	c.health = &healthReporter{st: st, drivers: cfg.Drivers, every: cfg.HealthEvery, stateDir: cfg.StateDir,
		outbox: c.outbox.pending, started: started, log: log}
	// The link's clock never reads earlier than the newest command iat recorded: a
	// device clock set back does not make a command expired by the cloud's clock
	// valid again (docs/adr/0055-command-ordering-and-jti-reuse.md).
	if err := st.ViewCommands(func(log store.CommandReader) error {
		f, err := log.IssuedFloor()
		handler.floor.raise(f)
		return err
	}); err != nil {
		log.Error("command log: newest issue time unreadable; the link's clock has no floor", "err", err)
	}
	lc := cfg.Link
	wall := lc.Now
	if wall == nil {
		// The station's clock: its trusted time, which a stepped wall clock does not
		// move (docs/adr/0058-time-without-a-clock-chip.md).
		wall = st.Now
	}
	lc.Now = func() time.Time { return handler.floor.after(wall()) }
	lc.Boot, lc.Version, lc.Handler, lc.Commands, lc.Outbox, lc.Logger = boot, handler.version, handler, commandLog{st}, c.outbox, log
	if c.link, err = link.New(lc); err != nil {
		return nil, err
	}
	c.health.summary = c.link.SetPresenceHealth // the birth's health summary (ADR 0068)
	return c, nil
}

// Run keeps the link up and reports health until ctx ends; a cancelled ctx is a clean
// stop (nil). Both goroutines it starts have returned when it does.
func (c *Link) Run(ctx context.Context) error {
	c.log.Info("cloud link starting", "boot", c.boot)
	c.handler.background = ctx // before the link starts the handler's goroutine
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

// newBootID names this start: presence and status carry it, so the cloud can tell a
// restart from a reconnect.
func newBootID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("cloudlink: no randomness") // crypto/rand does not fail on Linux
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
