package firmware

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/kiosk"
	"github.com/lockerd/lockerd/firmware/panel"
)

// kioskEntryTimeout is the panel's entry timeout when a kiosk screen is on and the
// config sets none: long enough for the screen's 20-second warning and its "More
// time" (WCAG 2.2.1), where the keypad alone keeps panel.DefaultEntryTimeout.
const kioskEntryTimeout = 40 * time.Second

// panelConfig is the front panel's configuration, with the kiosk's entry timeout
// when the kiosk is on.
func panelConfig(cfg *config.Config) panel.Config {
	pc := cfg.Hardware.Panel.Config()
	if pc.EntryTimeout == 0 && cfg.Kiosk.Addr() != "" {
		pc.EntryTimeout = kioskEntryTimeout
	}
	pc.EntryTimeout = max(pc.EntryTimeout, 0)
	if pc.EntryTimeout == 0 {
		pc.EntryTimeout = panel.DefaultEntryTimeout
	}
	if pc.Idle == 0 {
		pc.Idle = panel.DefaultPanelIdle
	}
	return pc
}

// frontPanel returns the run function of a panel fed by this hardware's keypads and
// scanners and by the kiosk's screen (k, when on), or one that returns at once when
// there is none of them. The keypad's keys that are the kiosk's (read aloud,
// language) go to the kiosk.
func (h *Hardware) frontPanel(st panel.Station, pc panel.Config, d panel.Display, k *kiosk.Kiosk) func(context.Context) error {
	if h.inputs == 0 && k == nil {
		return func(context.Context) error { return nil }
	}
	if k != nil {
		d = displays{k, d}
	}
	p := panel.New(st, pc, d, h.log.With("unit", "panel"))
	sink := p.Input
	if k != nil {
		k.SetInput(p.Input)
		sink = func(in panel.Input) {
			if in.Scan == nil && k.HardwareKey(keypad.Key(in.Key)) {
				return
			}
			p.Input(in)
		}
	}
	h.SetInputSink(sink)
	return func(ctx context.Context) error {
		defer h.SetInputSink(nil)
		if k != nil {
			defer k.SetInput(nil)
		}
		return p.Run(ctx)
	}
}

// displays shows each screen on every display that is set.
type displays []panel.Display

func (ds displays) Show(s panel.Screen) {
	for _, d := range ds {
		if d != nil {
			d.Show(s)
		}
	}
}

// openKiosk listens on the kiosk's address and returns the kiosk, or nil when it is
// off or its address cannot be had: the station serves without a screen then (the
// keypad still works), as it does without a cloud link.
func openKiosk(cfg *config.Config, pc panel.Config, opt Options, h *Hardware) (*kiosk.Kiosk, net.Listener) {
	addr := cfg.Kiosk.Addr()
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		h.log.Error("kiosk not started; serving without a screen", "addr", addr, "err", err)
		return nil, nil
	}
	var labels []string
	for _, c := range cfg.Compartments {
		label := c.Label
		if label == "" {
			label = strconv.Itoa(c.ID) // as the station labels it
		}
		labels = append(labels, label)
	}
	speech := kiosk.FindEspeak()
	if speech == nil {
		h.log.Warn("kiosk: espeak-ng not found: the screen works without speech")
	}
	k := kiosk.New(kiosk.Config{Language: cfg.Kiosk.Lang(), Doors: kiosk.Layout(labels),
		EntryTimeout: pc.EntryTimeout, Idle: pc.Idle, Speech: speech, Log: h.log.With("unit", "kiosk")})
	h.log.Info("kiosk listening", "url", "http://"+ln.Addr().String()+"/")
	if opt.Kiosk != nil {
		opt.Kiosk("http://" + ln.Addr().String() + "/")
	}
	return k, ln
}
