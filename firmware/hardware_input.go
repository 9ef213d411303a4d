package firmware

import (
	"fmt"

	"periph.io/x/conn/v3/gpio"

	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/drivers/scanner"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/panel"
)

func (h *Hardware) openScanner(s config.Scanner) error {
	p := h.register(s.Name, KindScanner, "port not opened yet")
	if s.Disabled {
		h.notLoaded(p, Skipped, "disabled in config")
		return nil
	}
	name := s.Name
	r, err := scanner.Open(scanner.Config{
		Path: s.Port, BaudRate: s.Baud,
		Framer: scanner.FramerConfig{Silence: s.Silence, DedupWindow: s.DedupWindow, MaxLen: s.MaxLen},
		OnScan: func(sc scanner.Scan) {
			h.input(panel.Input{Source: name, Scan: sc.Code, Symbology: sc.Symbology})
		},
		OnHealth: func(hl scanner.Health) { h.setHealth(p, hl.OK, hl.Reason) },
		Logger:   h.log.With("driver", name),
	})
	if err != nil {
		return fmt.Errorf("firmware: driver %s: %w", name, err)
	}
	h.add(name, r.Halt, r.Close)
	h.inputs++
	h.loaded(p, "port", s.Port)
	return nil
}

// layout turns the config's rows of keys into a keypad layout; nil for the default.
func layout(rows []string) [][]keypad.Key {
	var out [][]keypad.Key
	for _, r := range rows {
		row := make([]keypad.Key, len(r))
		for i := range len(r) {
			row[i] = keypad.Key(r[i])
		}
		out = append(out, row)
	}
	return out
}

func (h *Hardware) openKeypad(k config.Keypad, byName func(string) gpio.PinIO) error {
	p := h.register(k.Name, KindKeypad, "")
	switch {
	case k.Disabled:
		h.notLoaded(p, Skipped, "disabled in config")
		return nil
	case byName == nil:
		h.notLoaded(p, Failed, "GPIO unavailable: periph host drivers did not initialise")
		return nil
	}
	name := k.Name
	onKey := func(key keypad.Key) { h.input(panel.Input{Source: name, Key: key}) }
	log := h.log.With("driver", name)
	var halt, closeFn func() error
	switch k.Kind {
	case config.KeypadMatrix:
		m, err := keypad.OpenMatrix(keypad.MatrixConfig{Rows: k.Rows, Cols: k.Cols, Layout: layout(k.Layout),
			Debounce: k.Debounce, ByName: byName, OnKey: onKey, Logger: log})
		if err != nil {
			h.notLoaded(p, Failed, err.Error())
			return nil
		}
		halt, closeFn = m.Halt, m.Close
	case config.KeypadWiegand:
		w, err := keypad.OpenWiegand(keypad.WiegandConfig{D0: k.D0, D1: k.D1, FrameGap: k.FrameGap,
			ByName: byName, OnKey: onKey, Logger: log})
		if err != nil {
			h.notLoaded(p, Failed, err.Error())
			return nil
		}
		halt, closeFn = w.Halt, w.Close
	default:
		return fmt.Errorf("firmware: driver %s: unknown keypad kind %q", name, k.Kind)
	}
	h.add(name, halt, closeFn)
	h.inputs++
	h.setHealth(p, true, "")
	h.loaded(p, "keypad", k.Kind)
	return nil
}
