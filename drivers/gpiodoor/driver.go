package gpiodoor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockerd/lockerd/drivers/internal/queue"
	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
)

// Errors returned by a Driver; compare with errors.Is.
var (
	// ErrUnknownDoor means no door of that name is configured.
	ErrUnknownDoor = errors.New("gpiodoor: unknown door")
	// ErrUnavailable means the door was skipped or failed to load.
	ErrUnavailable = errors.New("gpiodoor: door unavailable")
	// ErrBusy means the door's relay is already pulsing.
	ErrBusy = errors.New("gpiodoor: pulse in progress")
	// ErrNoSensor means the door has no sensor line.
	ErrNoSensor = errors.New("gpiodoor: no door sensor")
	// ErrHalted means Halt or Close cut the pulse short.
	ErrHalted = errors.New("gpiodoor: halted")
	// ErrClosed means the driver was closed.
	ErrClosed = errors.New("gpiodoor: closed")
)

// Load is what became of a configured door. Values are stable.
type Load int

// Load states.
const (
	Loaded  Load = 1
	Skipped Load = 2
	Failed  Load = 3
)

// String names the load state.
func (l Load) String() string {
	switch l {
	case Loaded:
		return "loaded"
	case Skipped:
		return "skipped"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("Load(%d)", int(l))
}

// Status reports one door after Open.
type Status struct {
	Door      string
	Load      Load
	Reason    string // why skipped or failed
	HasSensor bool
}

// Change reports a debounced door state. Each sensed door reports once
// with Initial set when sensing starts.
type Change struct {
	Door    string
	Open    bool
	Initial bool
	At      time.Time
}

// Fault reports a sensor that does not settle (a chattering reed switch or a
// broken wire picking up noise), and its recovery (Cleared).
type Fault struct {
	Door    string
	Reason  string
	Cleared bool
	At      time.Time
}

type door struct {
	cfg      DoorConfig
	status   Status
	relay    gpio.PinIO
	sensor   gpio.PinIO
	pull     gpio.Pull
	pulsing  atomic.Bool
	retrying atomic.Bool   // forceOff's goroutine is retrying the relay off
	pulseGen atomic.Uint64 // the pulse a ceiling timer belongs to
	mu       sync.Mutex    // guards relayOn and the relay line
	relayOn  bool          // kept here: reading an output line would reconfigure it
	open     bool          // last debounced sensor state, under Driver.mu
	initial  gpio.Level    // sensor level read at Open
	relayErr error
}

func (dr *door) level(on bool) gpio.Level { return gpio.Level(on == dr.cfg.RelayActiveHigh) }

var _ conn.Resource = (*Driver)(nil)

// Driver owns the lines of a set of doors. It is safe for concurrent use.
type Driver struct {
	cfg    Config
	doors  map[string]*door
	order  []*door
	events *queue.Queue[any]
	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	halt   chan struct{} // closed by Halt to cut pulses short, then replaced
	closed bool
}

// Open drives every relay to its safe level, then sets up the sensors and
// starts sensing. A door whose pins are missing or refuse their mode is
// Failed (see Statuses) and the others still work; only an invalid config
// is an error.
func Open(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ByName == nil {
		cfg.ByName = gpioreg.ByName
	}
	if cfg.Logger == nil {
		cfg.Logger = defaultLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Driver{cfg: cfg, doors: map[string]*door{}, ctx: ctx, cancel: cancel, halt: make(chan struct{})}
	d.events = queue.New(d.deliver)
	// Relays first, all of them, before any sensor work: the lines may be
	// floating or pulled on since boot.
	for _, dc := range cfg.Doors {
		dr := &door{cfg: dc.withDefaults(), status: Status{Door: dc.Name, Load: Loaded}}
		d.doors[dc.Name] = dr
		d.order = append(d.order, dr)
		if dc.Disabled {
			dr.status = Status{Door: dc.Name, Load: Skipped, Reason: "disabled in config"}
			continue
		}
		if dr.cfg.Pulse > MaxPulse {
			cfg.Logger.Warn("gpiodoor: pulse clamped", "door", dc.Name, "configured", dr.cfg.Pulse, "max", MaxPulse)
			dr.cfg.Pulse = MaxPulse
		}
		dr.relay = cfg.ByName(dc.Relay)
		if dr.relay == nil {
			dr.fail("relay pin %s not found", dc.Relay)
			continue
		}
		if err := dr.relay.Out(dr.level(false)); err != nil {
			dr.fail("relay pin %s: %v", dc.Relay, err)
			continue
		}
	}
	for _, dr := range d.order {
		if dr.status.Load != Loaded || dr.cfg.Sensor == "" {
			continue
		}
		dr.pull, _ = ParsePull(dr.cfg.SensorPull)
		dr.sensor = cfg.ByName(dr.cfg.Sensor)
		if dr.sensor == nil {
			dr.fail("sensor pin %s not found", dr.cfg.Sensor)
			continue
		}
		if err := dr.sensor.In(dr.pull, gpio.BothEdges); err != nil {
			dr.fail("sensor pin %s: %v", dr.cfg.Sensor, err)
			continue
		}
		dr.status.HasSensor = true
	}
	// Let the lines settle before the first reads: a line pulled down since boot
	// (GPIO9-27) charges through the ~50 kΩ internal pull-up and the filter
	// capacitor in a few milliseconds, and a read before that would report an
	// open door as closed, then open: an uncommanded opening at every start.
	var settle time.Duration
	for _, dr := range d.order {
		if dr.status.HasSensor {
			settle = max(settle, dr.cfg.Debounce)
		}
	}
	time.Sleep(settle)
	for _, dr := range d.order {
		cfg.Logger.Info("gpiodoor: door", "door", dr.status.Door, "load", dr.status.Load.String(),
			"reason", dr.status.Reason, "sensor", dr.status.HasSensor)
		if dr.status.HasSensor {
			dr.initial = dr.sensor.Read()
			d.record(dr, dr.initial, true)
			d.wg.Add(1)
			go d.sense(ctx, dr)
		}
	}
	return d, nil
}

func (dr *door) fail(format string, args ...any) {
	dr.status = Status{Door: dr.cfg.Name, Load: Failed, Reason: fmt.Sprintf(format, args...)}
	// A failed door's relay must still be off if it exists.
	if dr.relay != nil {
		_ = dr.relay.Out(dr.level(false))
	}
	dr.relay, dr.sensor = nil, nil
}

func (d *Driver) deliver(v any) {
	switch e := v.(type) {
	case Change:
		if d.cfg.OnChange != nil {
			d.cfg.OnChange(e)
		}
	case Fault:
		if d.cfg.OnFault != nil {
			d.cfg.OnFault(e)
		}
	}
}

// String describes the driver, periph-style.
func (d *Driver) String() string { return fmt.Sprintf("gpiodoor(%d doors)", len(d.order)) }

// Statuses reports every configured door: loaded, skipped or failed, with
// the reason.
func (d *Driver) Statuses() []Status {
	out := make([]Status, len(d.order))
	for i, dr := range d.order {
		out[i] = dr.status
	}
	return out
}

func (d *Driver) get(name string) (*door, error) {
	dr, ok := d.doors[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownDoor, name)
	}
	if dr.status.Load != Loaded {
		return nil, fmt.Errorf("%w: %q %s: %s", ErrUnavailable, name, dr.status.Load, dr.status.Reason)
	}
	return dr, nil
}

// setRelay drives the relay and records its state. Turning it off is
// skipped only when it is known off; force writes regardless.
func (d *Driver) setRelay(dr *door, on, force bool) error {
	dr.mu.Lock()
	defer dr.mu.Unlock()
	if !force && !on && !dr.relayOn && dr.relayErr == nil {
		return nil
	}
	err := dr.relay.Out(dr.level(on))
	switch {
	case err == nil:
		dr.relayOn = on
	case !on:
		dr.relayOn = true // an off write that failed may have left it energised
	}
	dr.relayErr = err
	if err != nil {
		d.cfg.Logger.Error("gpiodoor: relay", "door", dr.cfg.Name, "on", on, "err", err)
		return fmt.Errorf("gpiodoor: door %q relay: %w", dr.cfg.Name, err)
	}
	return nil
}

// Pulse energises the door's relay for its pulse length (at most MaxPulse)
// and returns once it is off again. ctx only gates the start: once begun, a
// pulse runs its course unless Halt or Close cuts it short (ErrHalted), so a
// caller's timeout never leaves the outcome in doubt.
func (d *Driver) Pulse(ctx context.Context, name string) error {
	dr, err := d.get(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gpiodoor: door %q not pulsed: %w", name, err)
	}
	d.mu.Lock()
	closed, halt := d.closed, d.halt
	d.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if dr.retrying.Load() {
		// Its relay may still be energised: no new pulse until an off write succeeds.
		return fmt.Errorf("%w: door %q: its relay could not be switched off yet", ErrBusy, name)
	}
	if !dr.pulsing.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: door %q", ErrBusy, name)
	}
	defer dr.pulsing.Store(false)
	// The ceiling does not depend on this goroutine getting scheduled. It is stopped
	// only once the relay is known off.
	// The ceiling of this pulse only: one left armed by a pulse whose off write failed
	// must not cut a later pulse short.
	gen := dr.pulseGen.Add(1)
	ceiling := time.AfterFunc(MaxPulse, func() {
		if dr.pulseGen.Load() == gen {
			_ = d.forceOff(dr)
		}
	})
	if err := d.setRelay(dr, true, false); err != nil {
		if d.forceOff(dr) == nil {
			ceiling.Stop()
		}
		return err
	}
	t := time.NewTimer(dr.cfg.Pulse)
	defer t.Stop()
	select {
	case <-t.C:
	case <-halt:
		err = fmt.Errorf("%w: door %q pulse cut short", ErrHalted, name)
	}
	if offErr := d.setRelay(dr, false, false); offErr != nil {
		if d.forceOff(dr) != nil {
			return offErr // the ceiling, and after it the retries, go on trying
		}
	}
	ceiling.Stop()
	d.cfg.Logger.Info("gpiodoor: pulsed", "door", name, "pulse", dr.cfg.Pulse)
	return err
}

// forceOff drives dr's relay off, retrying a failed write (a transient EBUSY or
// EINTR) a few times at once and then, from a goroutine, every second until one
// succeeds or the driver is closed: a relay held energised burns a solenoid out and
// leaves the door unlocked. It reports whether the relay is off now.
func (d *Driver) forceOff(dr *door) error {
	delay := 5 * time.Millisecond
	var err error
	for range 5 {
		if err = d.setRelay(dr, false, true); err == nil {
			return nil
		}
		time.Sleep(delay)
		delay *= 2
	}
	d.mu.Lock()
	spawn := !d.closed && dr.retrying.CompareAndSwap(false, true)
	if spawn {
		d.wg.Add(1) // under mu: Close sets closed under mu before it Waits
	}
	d.mu.Unlock()
	if spawn {
		go func() {
			defer d.wg.Done()
			defer dr.retrying.Store(false)
			for {
				select {
				case <-d.ctx.Done():
					return
				case <-time.After(time.Second):
				}
				if d.setRelay(dr, false, true) == nil {
					d.cfg.Logger.Warn("gpiodoor: relay off after failed writes", "door", dr.cfg.Name)
					return
				}
			}
		}()
	}
	return err
}

// Relay reports whether the door's relay is energised, from the driver's
// own record (the line is never read back).
func (d *Driver) Relay(name string) (bool, error) {
	dr, err := d.get(name)
	if err != nil {
		return false, err
	}
	dr.mu.Lock()
	defer dr.mu.Unlock()
	return dr.relayOn, nil
}

// DoorOpen returns the last debounced state of the door's sensor.
func (d *Driver) DoorOpen(name string) (bool, error) {
	dr, err := d.get(name)
	if err != nil {
		return false, err
	}
	if !dr.status.HasSensor {
		return false, fmt.Errorf("%w: door %q", ErrNoSensor, name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return dr.open, nil
}

// Halt drives every relay to its safe level at once and cuts running
// pulses short. Sensing continues.
func (d *Driver) Halt() error {
	d.mu.Lock()
	close(d.halt)
	d.halt = make(chan struct{})
	d.mu.Unlock()
	var errs []error
	for _, dr := range d.order {
		if dr.relay != nil {
			if err := d.setRelay(dr, false, true); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Close halts the driver, stops sensing and waits for its goroutines.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	err := d.Halt()
	d.cancel()
	for _, dr := range d.order {
		if dr.sensor != nil {
			_ = dr.sensor.Halt() // interrupts WaitForEdge on gpioioctl
		}
	}
	d.wg.Wait()
	d.events.Close()
	return err
}
