package firmware

import (
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"github.com/lockerd/lockerd/firmware/cloudlink"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// newCloudLink builds lockerd's side of the cloud link (docs/protocol.md), the adapter
// firmware/cloudlink, from the config: its connection settings, the password and TLS
// files the mqtt section names, the pinned fleet key, the event key every message is
// tagged with (docs/adr/0050-authenticated-events.md). run.go starts it when mqtt.broker
// is set; nothing connects until its Run.
func newCloudLink(cfg *config.Config, st *locker.Station, hw *Hardware, identity string, eventKey []byte, updates cloudlink.Updates, log *slog.Logger) (*cloudlink.Link, error) {
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
	if tlsCfg != nil {
		// The broker's certificate is checked at the station's time: its trusted time,
		// or before there is one the wall clock but no earlier than the floor (the
		// last trusted time, the build's). A board booted in 1970 still connects and
		// can be sent the time (docs/adr/0058-time-without-a-clock-chip.md).
		tlsCfg.Time = st.Now
	}
	cl, err := cloudlink.New(cloudlink.Config{
		Link: link.Config{Broker: m.Broker, Brokers: m.Brokers, LockerID: cfg.LockerID, Topics: topics, Username: m.Username,
			Password: password, TLS: tlsCfg, FleetKeys: []ed25519.PublicKey{fleet}, EventKey: eventKey, MaxBackoff: m.ReconnectMax},
		Station: st, Drivers: func() []cloudlink.Driver { return linkDrivers(hw.Health()) },
		Version: Version, Identity: identity, RemoteOpens: m.Limit().Max, RemoteOpensPer: m.Limit().Per,
		HealthEvery: m.Health(), StateDir: cfg.StateDir, Updates: updates, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("firmware: mqtt: %w", err)
	}
	return cl, nil
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

// linkDrivers is the drivers' health in the protocol's words, for the cloud link.
func linkDrivers(ds []DriverHealth) []cloudlink.Driver {
	out := make([]cloudlink.Driver, len(ds))
	for i, d := range ds {
		out[i] = cloudlink.Driver{Name: d.Name, Health: driverHealth(d), Code: driverCode(d), Starting: d.Starting}
	}
	return out
}

// driverHealth is a driver's state in the protocol's words: loaded and working is ok,
// loaded and not working (a bus that stopped answering) failed, not opened at all
// failed; disabled in the config, or loaded with no report yet (starting), unknown.
func driverHealth(d DriverHealth) protocol.Health {
	switch {
	case d.Load == Loaded && d.OK:
		return protocol.HealthOK
	case d.Load == Skipped, d.Starting:
		return protocol.HealthUnknown
	}
	return protocol.HealthFailed
}

// driverCode is the short machine-readable cause of a driver's state.
func driverCode(d DriverHealth) string {
	switch {
	case d.Load == Skipped:
		return "skipped"
	case d.Load == Failed:
		return "not_loaded"
	case d.Starting:
		return "starting"
	case !d.OK:
		return "fault"
	}
	return ""
}
