package firmware

import (
	"context"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/locker"
)

// frontPanel returns the run function of a panel fed by this hardware's keypads and
// scanners, or one that returns at once when there are none.
func (h *Hardware) frontPanel(st panel.Station, c config.Panel, d panel.Display) func(context.Context) error {
	if h.inputs == 0 {
		return func(context.Context) error { return nil }
	}
	p := panel.New(st, panelConfig(c), d, h.log.With("unit", "panel"))
	h.SetInputSink(p.Input)
	return func(ctx context.Context) error {
		defer h.SetInputSink(nil)
		return p.Run(ctx)
	}
}

// panelConfig converts the config file's panel section (already validated).
func panelConfig(c config.Panel) panel.Config {
	size, _ := locker.ParseSize(c.DefaultSize)
	return panel.Config{DefaultSize: size, Idle: c.Idle, EntryTimeout: c.EntryTimeout}
}
