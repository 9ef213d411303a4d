package firmware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lockerd/lockerd/drivers/driver"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/locker"
)

// ErrNoDoor is returned by Unlock for a compartment whose door driver is not loaded
// (skipped, failed) or that has no door at all (a shelf).
var ErrNoDoor = errors.New("firmware: compartment has no working door driver")

// Load is what became of a configured driver at start. Values are stable: they are
// shown by hwtest and may be reported to the cloud.
type Load int

// Load states.
const (
	Loaded  Load = 1 // opened; see DriverHealth.OK for whether it works right now
	Skipped Load = 2 // disabled in the config: not opened
	Failed  Load = 3 // could not be opened; Reason says why
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

// MarshalText encodes the stable name.
func (l Load) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// KindGPIOHost is the kind in DriverHealth of periph's host drivers (gpioioctl); each
// driver's own kind is its driver.Kind's Name ("lockboard", "gpio_doors", "scanner",
// "keypad").
const KindGPIOHost = "gpio_host"

// DriverHealth is one driver's state: how it loaded, and whether it works now. Reasons
// name pins, ports and boards, never a scan or a key.
type DriverHealth struct {
	Name   string    `json:"name"`
	Kind   string    `json:"kind"`
	Load   Load      `json:"load"`
	OK     bool      `json:"ok"`
	Reason string    `json:"reason,omitempty"` // why skipped, failed or not OK
	Since  time.Time `json:"since"`
	// Starting: loaded, and its first report (healthy or not) has not come yet. Not a
	// fault: a serial port opening, a first poll under way.
	Starting bool `json:"starting,omitempty"`
}

// HardwareOptions are what a caller of Run (the simulator, a test) can change about the
// hardware.
type HardwareOptions struct {
	// Pins resolves GPIO line names instead of periph's registry, whose host drivers are
	// then not loaded: the simulator's and tests' fake pins.
	Pins func(name string) gpio.PinIO
	// Display shows the front panel's state; default panel.LogDisplay.
	Display panel.Display
	// Opened is called with the drivers once they are open, e.g. to expose Health.
	Opened func(*Hardware)
}

// Hardware owns the drivers of one station and maps compartments onto them. It
// implements locker.Unlocker and locker.DoorReader, forwards door changes to the
// station and keys and scans to the front panel. It is safe for concurrent use.
type Hardware struct {
	log     *slog.Logger
	doorsOf map[string]func(board, lock int) driver.Door // loaded door drivers by name
	doors   map[locker.CompartmentID]driver.Door
	byAddr  map[string]locker.CompartmentID // driver address ("bus0/0/3", "gpio/0/1") -> compartment
	order   []locker.CompartmentID
	closers []func() error // drivers in the order they were opened
	inputs  int            // keypads and scanners loaded
	halters []func() error

	doorSink  atomic.Pointer[func(locker.CompartmentID, bool)]
	inputSink atomic.Pointer[func(panel.Input)]

	mu     sync.Mutex
	health []*DriverHealth
}

var (
	_ locker.Unlocker   = (*Hardware)(nil)
	_ locker.DoorReader = (*Hardware)(nil)
)

// register adds a driver to Health before it is opened, so that callbacks from its
// goroutines always find their entry. It starts loaded but not OK, with reason.
func (h *Hardware) register(name, kind, reason string) *DriverHealth {
	p := &DriverHealth{Name: name, Kind: kind, Load: Loaded, Reason: reason, Since: time.Now(), Starting: true}
	h.mu.Lock()
	h.health = append(h.health, p)
	h.mu.Unlock()
	return p
}

// loaded logs a driver that opened; its OK and Reason follow its own reports.
func (h *Hardware) loaded(p *DriverHealth, attrs ...any) {
	h.log.Info("driver loaded", append([]any{"driver", p.Name, "kind", p.Kind}, attrs...)...)
}

// notLoaded records and logs a driver that was skipped or failed to open.
func (h *Hardware) notLoaded(p *DriverHealth, load Load, reason string) {
	h.mu.Lock()
	p.Load, p.OK, p.Reason, p.Since, p.Starting = load, false, reason, time.Now(), false
	h.mu.Unlock()
	if load == Skipped {
		h.log.Warn("driver skipped", "driver", p.Name, "kind", p.Kind, "reason", reason)
		return
	}
	h.log.Error("driver failed", "driver", p.Name, "kind", p.Kind, "reason", reason)
}

// setHealth updates a loaded driver's live state, logging changes only.
func (h *Hardware) setHealth(p *DriverHealth, ok bool, reason string) {
	h.mu.Lock()
	if p.OK == ok && p.Reason == reason && !p.Starting {
		h.mu.Unlock()
		return
	}
	p.OK, p.Reason, p.Since, p.Starting = ok, reason, time.Now(), false
	h.mu.Unlock()
	if ok {
		h.log.Info("driver healthy", "driver", p.Name, "kind", p.Kind)
	} else {
		h.log.Warn("driver fault", "driver", p.Name, "kind", p.Kind, "reason", reason)
	}
}

// Health reports every driver in config order, with the periph host first when GPIO is
// in use.
func (h *Hardware) Health() []DriverHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]DriverHealth, len(h.health))
	for i, p := range h.health {
		out[i] = *p
	}
	return out
}

// Compartments lists the door compartments in config order with where each door is,
// and "" for one whose driver did not load.
func (h *Hardware) Compartments() []CompartmentDoor {
	var out []CompartmentDoor
	for _, id := range h.order {
		cd := CompartmentDoor{ID: id}
		if d := h.doors[id]; d != nil {
			cd.Where = d.String()
		}
		out = append(out, cd)
	}
	return out
}

// CompartmentDoor is where a compartment's door is wired.
type CompartmentDoor struct {
	ID    locker.CompartmentID
	Where string // "bus0 board 0 lock 3", "gpio door d1"; empty: no working driver
}

// SetDoorSink starts forwarding door changes (compartment, open) to f; nil stops it.
func (h *Hardware) SetDoorSink(f func(locker.CompartmentID, bool)) {
	if f == nil {
		h.doorSink.Store(nil)
		return
	}
	h.doorSink.Store(&f)
}

// SetInputSink starts forwarding keys and scans to f; nil stops it (and inputs are
// dropped, their scans wiped).
func (h *Hardware) SetInputSink(f func(panel.Input)) {
	if f == nil {
		h.inputSink.Store(nil)
		return
	}
	h.inputSink.Store(&f)
}

func (h *Hardware) doorChanged(addr string, open bool) {
	id, ok := h.byAddr[addr]
	if !ok {
		return
	}
	if f := h.doorSink.Load(); f != nil {
		(*f)(id, open)
	}
}

func (h *Hardware) input(in panel.Input) {
	if f := h.inputSink.Load(); f != nil {
		(*f)(in)
		return
	}
	clear(in.Scan)
}

// Unlock implements locker.Unlocker.
func (h *Hardware) Unlock(ctx context.Context, id locker.CompartmentID) error {
	d, ok := h.doors[id]
	if !ok {
		return fmt.Errorf("%w: compartment %d", ErrNoDoor, id)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return d.Unlock(ctx)
}

// DoorOpen implements locker.DoorReader.
func (h *Hardware) DoorOpen(id locker.CompartmentID) (open, known bool) {
	d, ok := h.doors[id]
	if !ok {
		return false, false
	}
	return d.State()
}

// waitReady waits until every door has a known state, or until timeout: a station whose
// bus is down still starts, and reconciles those doors when they report.
func (h *Hardware) waitReady(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		for _, id := range h.order {
			// Doors without a working driver never report: waiting for them only
			// delays the others.
			if d := h.doors[id]; d != nil && d.Loaded() {
				if _, known := d.State(); !known {
					missing = append(missing, fmt.Sprint(id))
				}
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.log.Warn("starting without door states", "compartments_unknown", len(missing),
				"first", strings.Join(missing[:min(len(missing), 8)], ","))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Halt puts every driver's outputs in their safe state (relays off, queued unlocks
// dropped, keypad rows released) at once; the drivers keep running.
func (h *Hardware) Halt() error {
	var errs []error
	for _, f := range h.halters {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}

// Close halts every driver, then stops them, last opened first, and waits for their
// goroutines. Outputs are left safe.
func (h *Hardware) Close() error {
	errs := []error{h.Halt()}
	for _, f := range slices.Backward(h.closers) {
		errs = append(errs, f())
	}
	h.closers, h.halters = nil, nil
	return errors.Join(errs...)
}

// add registers a driver's Halt and Close, wrapping their errors with its name.
func (h *Hardware) add(name string, halt, closeFn func() error) {
	wrap := func(f func() error) func() error {
		return func() error {
			if err := f(); err != nil {
				return fmt.Errorf("firmware: driver %s: %w", name, err)
			}
			return nil
		}
	}
	h.halters = append(h.halters, wrap(halt))
	h.closers = append(h.closers, wrap(closeFn))
}

// driverStatus converts driver health for the control API.
func driverStatus(hs []DriverHealth) []control.DriverStatus {
	out := make([]control.DriverStatus, len(hs))
	for i, h := range hs {
		out[i] = control.DriverStatus{Name: h.Name, Kind: h.Kind, Load: h.Load.String(), OK: h.OK, Reason: h.Reason, Since: h.Since}
	}
	return out
}
