// Package gpiotest provides fake GPIO pins for testing and simulating the
// GPIO drivers (gpiodoor, keypad) without hardware, in the style of periph's
// gpiotest: a Pin implements gpio.PinIO, the test drives inputs with Set,
// and outputs are recorded with their times. It also mimics two traits of
// the gpioioctl driver that real code must cope with: WaitForEdge with a
// negative timeout returns at once, and reading a line configured as an
// output turns it into an input (counted in ReadsAsOutput).
//
// Like the old sysfs interface, and unlike gpioioctl's kernel event queue, a
// Pin keeps at most one pending edge: edges that arrive while one is pending
// coalesce. A fake that must not lose edges paces itself with WaitingForEdge.
package gpiotest

import (
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

var _ gpio.PinIO = &Pin{}

// OutEvent is one call to Out.
type OutEvent struct {
	At    time.Time
	Level gpio.Level
}

// Pin is a fake GPIO line. Its methods are safe for concurrent use.
type Pin struct {
	N   string
	Num int

	// OnIn, if set, is called after every In (outside the pin's lock): a line
	// released from driving.
	OnIn func()
	// OnOut, if set, is called after every Out with the new level (outside
	// the pin's lock). Cabinet uses it to react to relays.
	OnOut func(gpio.Level)
	// OnRead, if set, is called at the start of every Read (outside the pin's
	// lock), before the level is taken: a fake can change the level (Set) that
	// this very Read returns, e.g. to show a key to exactly one scan of a
	// matrix keypad. Set it before the pin is handed to a driver.
	OnRead func()

	mu            sync.Mutex
	level         gpio.Level
	output        bool
	configured    bool
	pull          gpio.Pull
	edge          gpio.Edge
	pending       bool          // an edge not yet taken by WaitForEdge
	edges         chan struct{} // wakes WaitForEdge; may hold a stale token
	waiters       int           // goroutines inside WaitForEdge with no edge to take
	outs          []OutEvent
	readsAsOutput int
	halted        chan struct{}
}

// NewPin returns an unconfigured pin reading level.
func NewPin(name string, num int, level gpio.Level) *Pin {
	return &Pin{N: name, Num: num, level: level, edges: make(chan struct{}, 1), halted: make(chan struct{}, 1)}
}

// String implements conn.Resource.
func (p *Pin) String() string { return fmt.Sprintf("%s(%d)", p.N, p.Num) }

// Halt implements conn.Resource: it interrupts a pending WaitForEdge, as
// gpioioctl's Halt does.
func (p *Pin) Halt() error {
	select {
	case p.halted <- struct{}{}:
	default:
	}
	return nil
}

// Name implements pin.Pin.
func (p *Pin) Name() string { return p.N }

// Number implements pin.Pin.
func (p *Pin) Number() int { return p.Num }

// Function implements pin.Pin.
func (p *Pin) Function() string { return string(p.Func()) }

// Func implements pin.PinFunc.
func (p *Pin) Func() pin.Func {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.configured:
		return pin.FuncNone
	case p.output:
		return gpio.OUT
	}
	return gpio.IN
}

// SupportedFuncs implements pin.PinFunc.
func (p *Pin) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT} }

// SetFunc implements pin.PinFunc.
func (p *Pin) SetFunc(f pin.Func) error {
	switch f {
	case gpio.IN:
		return p.In(gpio.PullNoChange, gpio.NoEdge)
	case gpio.OUT:
		return p.Out(p.Read())
	}
	return fmt.Errorf("gpiotest: %s: unsupported function %s", p.N, f)
}

// In implements gpio.PinIn.
func (p *Pin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	p.configured, p.output = true, false
	if pull != gpio.PullNoChange {
		p.pull = pull
	}
	p.edge = edge
	p.pending = false
	hook := p.OnIn
	p.mu.Unlock()
	if hook != nil {
		hook()
	}
	return nil
}

// Read implements gpio.PinIn. Reading an output line reconfigures it as an
// input, as on gpioioctl; ReadsAsOutput counts such reads. OnRead runs first.
func (p *Pin) Read() gpio.Level {
	p.mu.Lock()
	hook := p.OnRead
	p.mu.Unlock()
	if hook != nil {
		hook()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.output {
		p.readsAsOutput++
		p.output = false
	}
	return p.level
}

// WaitForEdge implements gpio.PinIn. A negative timeout returns false at
// once, like gpioioctl.
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	if timeout < 0 {
		return false
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		// Taking the edge and leaving the waiters happen under one lock, so
		// WaitingForEdge never sees a goroutine that took an edge as still
		// waiting.
		p.mu.Lock()
		if p.pending {
			p.pending = false
			p.mu.Unlock()
			return true
		}
		p.waiters++
		p.mu.Unlock()
		var woken bool
		select {
		case <-p.edges:
			woken = true
		case <-p.halted:
		case <-t.C:
		}
		p.mu.Lock()
		p.waiters--
		p.mu.Unlock()
		if !woken {
			return false
		}
	}
}

// WaitingForEdge reports whether a goroutine is blocked in WaitForEdge with
// no edge pending: whoever reads the line has taken every edge signalled so
// far and is back for the next one.
func (p *Pin) WaitingForEdge() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiters > 0 && !p.pending
}

// EdgeDetection returns the edges the line was last configured to signal.
func (p *Pin) EdgeDetection() gpio.Edge {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.edge
}

// Pull implements gpio.PinIn.
func (p *Pin) Pull() gpio.Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pull
}

// DefaultPull implements gpio.PinIn.
func (p *Pin) DefaultPull() gpio.Pull { return gpio.Float }

// Out implements gpio.PinOut and records the call.
func (p *Pin) Out(l gpio.Level) error {
	p.mu.Lock()
	p.configured, p.output = true, true
	p.level = l
	p.outs = append(p.outs, OutEvent{At: time.Now(), Level: l})
	hook := p.OnOut
	p.mu.Unlock()
	if hook != nil {
		hook(l)
	}
	return nil
}

// PWM implements gpio.PinOut; fake pins have no PWM.
func (p *Pin) PWM(gpio.Duty, physic.Frequency) error {
	return fmt.Errorf("gpiotest: %s: no PWM", p.N)
}

// Set drives an input line from outside, as a switch does, and signals an
// edge if the level changed and edge detection covers it.
func (p *Pin) Set(l gpio.Level) {
	p.mu.Lock()
	changed := p.level != l
	p.level = l
	edge := p.edge
	signal := changed && (edge == gpio.BothEdges || edge == gpio.RisingEdge && l == gpio.High || edge == gpio.FallingEdge && l == gpio.Low)
	if signal {
		p.pending = true // coalesces with an edge not yet taken
	}
	p.mu.Unlock()
	if signal {
		select {
		case p.edges <- struct{}{}:
		default:
		}
	}
}

// SetQuiet changes an input's level without signalling an edge, as when the
// OS drops an interrupt.
func (p *Pin) SetQuiet(l gpio.Level) {
	p.mu.Lock()
	p.level = l
	p.mu.Unlock()
}

// Level returns the line's level without the side effects of Read.
func (p *Pin) Level() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}

// IsOutput reports whether the line is configured as an output.
func (p *Pin) IsOutput() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output
}

// Outs returns the recorded Out calls, oldest first.
func (p *Pin) Outs() []OutEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]OutEvent(nil), p.outs...)
}

// ReadsAsOutput counts Reads of the line while it was an output: a driver
// bug on real hardware.
func (p *Pin) ReadsAsOutput() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readsAsOutput
}

// Registry maps names to fake pins; its ByName matches gpioreg.ByName.
type Registry map[string]*Pin

// ByName returns the named pin, or nil (not a typed nil) when absent.
func (r Registry) ByName(name string) gpio.PinIO {
	if p, ok := r[name]; ok {
		return p
	}
	return nil
}
