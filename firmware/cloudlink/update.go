package cloudlink

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/lockerd/lockerd/firmware/update"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Updates starts updates; *update.Updater implements it (docs/updates.md, ADR 0064).
type Updates interface {
	Start(ctx context.Context, o update.Order, done func(error)) error
}

var _ Updates = (*update.Updater)(nil)

// update answers an update command: refused with release_refused when the release
// does not verify, done once it did and the download started. The download outlives the
// command: it runs under the link's context and reports update events.
func (h *commandHandler) update(cmd *protocol.Command, b *protocol.UpdateBody) link.Result {
	if h.updates == nil {
		return link.Refused(protocol.ReasonNotSupported, "updates are off: no update.release_keys configured")
	}
	o := update.Order{URL: b.URL, Version: b.Version, SHA256: b.SHA256.Hex(), Manifest: b.Manifest, Command: cmd.Jti}
	ctx := h.background
	if ctx == nil {
		ctx = context.Background()
	}
	if err := h.updates.Start(ctx, o, nil); err != nil {
		detail := string(update.ReasonOf(err))
		var r *update.Refusal
		if errors.As(err, &r) {
			detail += ": " + r.Detail
		}
		return link.Refused(protocol.ReasonReleaseRefused, detail)
	}
	return link.Done(nil)
}

// UpdateEvents returns the function an Updater reports its steps to: each becomes an
// update event, recorded in the audit log and sent like every event.
func UpdateEvents(st *locker.Station, log *slog.Logger) func(update.Event) {
	return func(e update.Event) {
		body := protocol.UpdateEvent{Step: protocol.UpdateStep(e.Step), Version: e.Version,
			Reason: string(e.Reason), Command: optionalID(e.Command)}
		if err := body.Validate(); err != nil {
			log.Error("update event does not validate", "step", string(e.Step), "err", err)
			return
		}
		raw, err := json.Marshal(&body)
		if err == nil {
			err = st.Record(locker.EvUpdate, locker.ActorSystem, raw)
		}
		if err != nil {
			log.Warn("update event not recorded", "step", string(e.Step), "err", err)
		}
	}
}

// DoorsIdle is update.Idler over the station: idle when no compartment has an
// operation under way (a deposit, pickup, retrieval, remote opening).
type DoorsIdle struct {
	Station *locker.Station
	Every   time.Duration // how often to look; default 1s
}

var _ update.Idler = DoorsIdle{}

// WaitIdle implements update.Idler.
func (d DoorsIdle) WaitIdle(ctx context.Context) error {
	every := d.Every
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		busy := false
		for _, c := range d.Station.Compartments() {
			busy = busy || (c.Op != "" && c.Op != locker.OpNone)
		}
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
