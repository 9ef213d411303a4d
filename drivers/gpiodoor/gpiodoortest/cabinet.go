// Package gpiodoortest simulates a cabinet of GPIO doors on fake pins
// (drivers/gpiotest) for tests and the simulator: each door's reed switch
// reacts to its relay according to a Policy.
package gpiodoortest

import (
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lockerd/lockerd/drivers/gpiotest"
)

// DoorSpec wires one fake compartment: a relay pin and an optional reed
// pin, with the same polarity options as gpiodoor.DoorConfig.
type DoorSpec struct {
	Name            string
	Relay, Sensor   string
	RelayActiveHigh bool
	SensorOpenLow   bool
}

// Plan is what a person does after the relay of a door is energised.
type Plan struct {
	Jam        bool          // the lock does not release: nothing happens
	OpenAfter  time.Duration // from the pulse; negative: nobody opens
	CloseAfter time.Duration // from the opening; negative: left open
}

// Policy chooses the Plan for a pulse of the named door.
type Policy func(door string) Plan

// OpenThenClose opens the door d1 after the pulse and shuts it d2 later.
func OpenThenClose(d1, d2 time.Duration) Policy {
	return func(string) Plan { return Plan{OpenAfter: d1, CloseAfter: d2} }
}

type cabDoor struct {
	spec   DoorSpec
	relay  *gpiotest.Pin
	sensor *gpiotest.Pin
	on     bool
	pulses int
	gen    uint64
}

// Cabinet is a set of fake doors whose reed switches react to their relays
// according to a Policy, for tests and the simulator. It is safe for
// concurrent use.
type Cabinet struct {
	mu     sync.Mutex
	pins   gpiotest.Registry
	doors  map[string]*cabDoor
	policy Policy
	closed bool
	timers []*time.Timer
}

// NewCabinet creates the pins (relays low, doors shut) and wires them.
func NewCabinet(specs []DoorSpec, policy Policy) (*Cabinet, error) {
	if policy == nil {
		policy = func(string) Plan { return Plan{OpenAfter: -1, CloseAfter: -1} }
	}
	c := &Cabinet{pins: gpiotest.Registry{}, doors: map[string]*cabDoor{}, policy: policy}
	for i, s := range specs {
		if s.Name == "" || c.doors[s.Name] != nil || s.Relay == "" || c.pins[s.Relay] != nil || (s.Sensor != "" && c.pins[s.Sensor] != nil) {
			return nil, fmt.Errorf("gpiodoortest: bad or duplicate door %q", s.Name)
		}
		d := &cabDoor{spec: s, relay: gpiotest.NewPin(s.Relay, 2*i, gpio.Low)}
		c.pins[s.Relay] = d.relay
		if s.Sensor != "" {
			d.sensor = gpiotest.NewPin(s.Sensor, 2*i+1, gpio.Level(s.SensorOpenLow))
			c.pins[s.Sensor] = d.sensor
		}
		d.relay.OnOut = func(l gpio.Level) { c.relayOut(d, l) }
		c.doors[s.Name] = d
	}
	return c, nil
}

// ByName finds a pin of the cabinet, like gpioreg.ByName.
func (c *Cabinet) ByName(name string) gpio.PinIO { return c.pins.ByName(name) }

// Pin returns the named pin for direct inspection.
func (c *Cabinet) Pin(name string) *gpiotest.Pin { return c.pins[name] }

// SetPolicy replaces the policy for later pulses.
func (c *Cabinet) SetPolicy(p Policy) {
	c.mu.Lock()
	c.policy = p
	c.mu.Unlock()
}

// Pulses counts how many times the door's relay was energised.
func (c *Cabinet) Pulses(door string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.doors[door]; d != nil {
		return d.pulses
	}
	return 0
}

// SetDoor forces a door open or shut, cancelling pending person actions.
func (c *Cabinet) SetDoor(door string, open bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.doors[door]
	if d == nil || d.sensor == nil {
		return fmt.Errorf("gpiodoortest: door %q has no sensor", door)
	}
	d.gen++
	c.setLocked(d, open)
	return nil
}

func (c *Cabinet) setLocked(d *cabDoor, open bool) {
	d.sensor.Set(gpio.Level(open != d.spec.SensorOpenLow))
}

func (c *Cabinet) relayOut(d *cabDoor, l gpio.Level) {
	c.mu.Lock()
	defer c.mu.Unlock()
	on := l == gpio.Level(d.spec.RelayActiveHigh)
	rising := on && !d.on
	d.on = on
	if !rising || c.closed {
		return
	}
	d.pulses++
	plan := c.policy(d.spec.Name)
	if plan.Jam || plan.OpenAfter < 0 || d.sensor == nil {
		return
	}
	d.gen++
	gen := d.gen
	c.after(plan.OpenAfter, func() {
		if d.gen != gen {
			return
		}
		c.setLocked(d, true)
		if plan.CloseAfter >= 0 {
			c.after(plan.CloseAfter, func() {
				if d.gen == gen {
					c.setLocked(d, false)
				}
			})
		}
	})
}

// after runs f with c.mu held after d, unless the cabinet is closed.
func (c *Cabinet) after(d time.Duration, f func()) {
	c.timers = append(c.timers, time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.closed {
			f()
		}
	}))
}

// Close stops pending person actions.
func (c *Cabinet) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, t := range c.timers {
		t.Stop()
	}
	c.timers = nil
	return nil
}
