package gpiodoor

import (
	"context"
	"log/slog"
	"time"

	"periph.io/x/conn/v3/gpio"
)

const (
	// idleWait bounds each wait for an edge; the level is re-read after it
	// in case the OS dropped an edge. Never negative: WaitForEdge(-1)
	// returns at once on gpioioctl.
	idleWait = time.Second
	// settleWindows is how many debounce windows a line may keep bouncing
	// before it is reported as a fault.
	settleWindows = 50
)

func defaultLogger() *slog.Logger { return slog.Default() }

func (dr *door) isOpen(l gpio.Level) bool { return (l == gpio.Low) == dr.cfg.SensorOpenLow }

// sense follows one door sensor until ctx ends. An edge starts a settle
// phase that lasts until the line has been quiet for a whole debounce
// window; only then is the level read and a change reported. So the latency
// from the last edge to the callback is one debounce window.
// pollWhenBroken is how often sense reads a line whose edge wait fails at once.
const pollWhenBroken = 100 * time.Millisecond

func (d *Driver) sense(ctx context.Context, dr *door) {
	defer d.wg.Done()
	pin, deb := dr.sensor, dr.cfg.Debounce
	stable := dr.initial
	faulty := false
	for ctx.Err() == nil {
		waited := time.Now()
		if !pin.WaitForEdge(idleWait) {
			if ctx.Err() != nil {
				continue
			}
			if time.Since(waited) < idleWait/2 {
				// WaitForEdge failing at once (an edge request the kernel dropped):
				// poll the level instead of spinning a core.
				select {
				case <-ctx.Done():
					continue
				case <-time.After(pollWhenBroken):
				}
			}
			if faulty {
				// Quiet for a whole idle wait after chattering: it settled, though
				// the edge that ended the chatter may have been the one the settle
				// loop gave up on, so no edge would ever tell.
				faulty = false
				d.fault(dr, false)
			}
			if pin.Read() == stable {
				continue
			}
			// A missed edge: the level moved without notice. Debounce it
			// like an edge.
		}
		start := time.Now()
		chatter := false
		for pin.WaitForEdge(deb) {
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) > settleWindows*deb {
				chatter = true
				break
			}
		}
		if ctx.Err() != nil {
			return
		}
		if chatter != faulty {
			faulty = chatter
			d.fault(dr, chatter)
		}
		if chatter {
			continue // report no state from a line that will not settle
		}
		if l := pin.Read(); l != stable {
			stable = l
			d.record(dr, l, false)
		}
	}
}

func (d *Driver) record(dr *door, l gpio.Level, initial bool) {
	open := dr.isOpen(l)
	d.mu.Lock()
	dr.open = open
	d.mu.Unlock()
	d.events.Post(Change{Door: dr.cfg.Name, Open: open, Initial: initial, At: time.Now()})
}

func (d *Driver) fault(dr *door, active bool) {
	f := Fault{Door: dr.cfg.Name, Cleared: !active, At: time.Now(), Reason: "sensor line does not settle"}
	if active {
		d.cfg.Logger.Warn("gpiodoor: sensor fault", "door", dr.cfg.Name, "reason", f.Reason)
	} else {
		d.cfg.Logger.Info("gpiodoor: sensor settled", "door", dr.cfg.Name)
	}
	d.events.Post(f)
}
