package firmware

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/lockerd/lockerd/firmware/cloudlink"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/update"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/store/boltstore"
)

// Signed updates (docs/updates.md, ADR 0064): lockerd's side downloads, verifies and
// spools; the installer (lockerd-update.sh, root) installs and rolls back. This file
// wires the update package to the station, the hardware and the cloud link.

// debianArch is the Debian architecture of this build.
func debianArch() string {
	switch runtime.GOARCH {
	case "arm":
		return "armhf"
	case "386":
		return "i386"
	}
	return runtime.GOARCH
}

// newUpdater returns the updater the config asks for, or nil when update.release_keys
// is empty (update commands are then refused not_supported).
func newUpdater(cfg *config.Config, st *locker.Station, log *slog.Logger) *update.Updater {
	if len(cfg.Update.ReleaseKeys) == 0 {
		return nil
	}
	release, err := update.ParseKeys(cfg.Update.ReleaseKeys...)
	if err != nil { // check refuses this config; run is no place to guess
		log.Error("updates off: update.release_keys unreadable", "err", err)
		return nil
	}
	var command []ed25519.PublicKey
	if k, err := fleetKey(cfg.Fleet.Ed25519Public); err == nil {
		command = append(command, k)
	}
	if _, err := update.ParseVersion(Version); err != nil {
		log.Warn("this build's version is not a Debian version: every update will be refused", "version", Version)
	}
	log = log.With("unit", "update")
	return update.New(update.Config{Spool: cfg.Update.SpoolDir(), Keys: update.Keys{Release: release, Command: command},
		MaxSize: cfg.Update.MaxSize(), Package: "lockerd", Arch: debianArch(), Running: Version,
		ReadsSchema: boltstore.SchemaVersion, Log: log}, cloudlink.DoorsIdle{Station: st}, cloudlink.UpdateEvents(st, log))
}

// updateLoop reports the installer's steps as events (at start and every few seconds:
// the installer writes healthy after this start), resumes an interrupted order, and
// writes the health stamp once this start has proved healthy: the store open (it is,
// here), every driver started and OK, the cloud link up and the station healthy by the
// watchdog's own test.
func updateLoop(cfg *config.Config, st *locker.Station, hw *Hardware, cl *cloudlink.Link, u *update.Updater, log *slog.Logger) func(context.Context) error {
	spool := cfg.Update.SpoolDir()
	installer := cfg.Update.Installer()
	events := cloudlink.UpdateEvents(st, log)
	return func(ctx context.Context) error {
		report := func() {
			if err := update.Report(installer, spool, events); err != nil {
				log.Warn("update: installer state not reported", "err", err)
			}
		}
		report()
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := u.Resume(ctx); err != nil && ctx.Err() == nil {
				log.Warn("update: interrupted update not resumed", "err", err)
			}
		}()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		stamped := false
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			if !stamped && provedHealthy(st, hw, cl) {
				if err := update.WriteStamp(spool, Version, time.Now()); err != nil {
					log.Warn("update: health stamp not written", "err", err)
				} else {
					stamped = true
					log.Info("update: healthy", "version", Version)
				}
			}
			if n%3 == 0 {
				report()
			}
		}
	}
}

func provedHealthy(st *locker.Station, hw *Hardware, cl *cloudlink.Link) bool {
	if !st.Healthy(2*time.Second) || cl == nil || !cl.Stats().Connected {
		return false
	}
	for _, d := range hw.Health() {
		if d.Load == Loaded && (d.Starting || !d.OK) {
			return false
		}
	}
	return true
}

// VerifyUpdate is the installer's check (`lockerd update verify`, run as root by
// lockerd-update.sh): the request lockerd spooled is verified again from scratch —
// manifest signature against the pinned release keys (never the command key), the
// command's agreement with it, version order against installed, arch, size, store
// schema, the package's digest — and the package copied to dst. It returns the version
// to install and how long it has to prove healthy; a refusal is an *update.Refusal.
func VerifyUpdate(cfg *config.Config, dst, installed string) (string, time.Duration, error) {
	release, err := update.ParseKeys(cfg.Update.ReleaseKeys...)
	if err != nil {
		return "", 0, err
	}
	if len(release) == 0 {
		return "", 0, &update.Refusal{Reason: update.ReasonNoReleaseKey, Detail: "update.release_keys is empty: no release can be verified"}
	}
	var command []ed25519.PublicKey
	if k, err := fleetKey(cfg.Fleet.Ed25519Public); err == nil {
		command = append(command, k)
	}
	m, _, err := update.VerifyRequest(cfg.Update.SpoolDir(), dst, update.Config{Keys: update.Keys{Release: release, Command: command},
		MaxSize: cfg.Update.MaxSize(), Package: "lockerd", Arch: debianArch(), Running: installed,
		ReadsSchema: boltstore.SchemaVersion})
	if err != nil {
		return "", 0, err
	}
	return m.Version, cfg.Update.Health(), nil
}
