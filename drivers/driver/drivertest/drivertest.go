// Package drivertest helps test a driver's setup.go: a Check that records what
// Settings.Check reports and claims, and an Env that records what an opened driver
// reports (docs/adr/0042-driver-registry.md).
package drivertest

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"periph.io/x/conn/v3/gpio"

	"github.com/lockerd/lockerd/drivers/driver"
)

// Check records failures and claims. It checks no uniqueness: that is the config's
// job across drivers.
type Check struct {
	Fails []string // "path: message", in order
	Names []string // declared driver names
	Ports []string
	Pins  []string
}

var _ driver.Check = (*Check)(nil)

// Fail implements driver.Check.
func (c *Check) Fail(path, format string, args ...any) {
	c.Fails = append(c.Fails, path+": "+fmt.Sprintf(format, args...))
}

// Name implements driver.Check.
func (c *Check) Name(p, name string, s driver.Settings) { c.Names = append(c.Names, name) }

// Port implements driver.Check.
func (c *Check) Port(path, port, owner string) { c.Ports = append(c.Ports, port) }

// Pin implements driver.Check.
func (c *Check) Pin(path, pin string) { c.Pins = append(c.Pins, pin) }

// Failed reports whether some failure contains s.
func (c *Check) Failed(s string) bool {
	return slices.ContainsFunc(c.Fails, func(f string) bool { return strings.Contains(f, s) })
}

// Env records an opened driver's reports. Its methods are safe for concurrent use.
type Env struct {
	Pins func(string) gpio.PinIO

	mu     sync.Mutex
	health []string // "ok" or the reason
	doors  []string // "board/lock open|closed"
	inputs []driver.Input
}

// Env returns the driver.Env to open a driver with.
func (e *Env) Env() driver.Env {
	return driver.Env{Log: slog.New(slog.DiscardHandler), Pins: e.Pins,
		Health: func(ok bool, reason string) {
			if ok {
				reason = "ok"
			}
			e.add(&e.health, reason)
		},
		Door: func(board, lock int, open bool) {
			e.add(&e.doors, fmt.Sprintf("%d/%d %s", board, lock, map[bool]string{true: "open", false: "closed"}[open]))
		},
		Input: func(in driver.Input) {
			e.mu.Lock()
			in.Scan = slices.Clone(in.Scan)
			e.inputs = append(e.inputs, in)
			e.mu.Unlock()
		}}
}

func (e *Env) add(to *[]string, s string) {
	e.mu.Lock()
	*to = append(*to, s)
	e.mu.Unlock()
}

// Health returns the health reports so far ("ok" or the reason).
func (e *Env) Health() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.health)
}

// Doors returns the door reports so far ("0/2 open").
func (e *Env) Doors() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.doors)
}

// Inputs returns the keys and scans so far.
func (e *Env) Inputs() []driver.Input {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.inputs)
}
