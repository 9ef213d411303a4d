package firmware

import (
	"context"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/panel"
)

// frontPanel returns the run function of a panel fed by this hardware's keypads and
// scanners, or one that returns at once when there are none.
func (h *Hardware) frontPanel(st panel.Station, c config.Panel, d panel.Display) func(context.Context) error {
	if h.inputs == 0 {
		return func(context.Context) error { return nil }
	}
	p := panel.New(st, c.Config(), d, h.log.With("unit", "panel"))
	h.SetInputSink(p.Input)
	return func(ctx context.Context) error {
		defer h.SetInputSink(nil)
		return p.Run(ctx)
	}
}
